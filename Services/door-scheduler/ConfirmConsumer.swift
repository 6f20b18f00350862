import Contracts
import DoorCrypto
import DoorStore
import Foundation
import Logging
import MQTT
import Metrics
import ServiceLifecycle

/// Takes the devices' signed confirms from `leitstand/door/+/confirm`. The scheduler's MQTT session is
/// persistent, so confirms sent while it restarts wait in the broker and arrive here afterwards; replicas share
/// the subscription. A confirm is checked (signature under the device's secrets, device, nonce) and recorded;
/// a repeated one changes nothing.
struct ConfirmConsumer: Service {
    static let subscription = "$share/door-scheduler/\(Topic.allDoorConfirms)"

    /// Made before the client connects (see `main.swift`), so that confirms the broker kept for this session and
    /// delivers right after the CONNACK already find their subscription.
    let confirms: MQTTSubscription
    let ledger: DoorJobLedger
    let devices: DeviceRegistry
    let keyrings = DeviceKeyrings()
    let logger: Logger

    /// Confirms recorded at once; each is its own transaction, and repeats of one job serialise on its row lock.
    static let concurrency = 32

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for await message in confirms.cancelOnGracefulShutdown() {
                if inFlight >= Self.concurrency {
                    await group.next()
                    inFlight -= 1
                }
                group.addTask { await handle(message) }
                inFlight += 1
            }
        }
    }

    private func handle(_ message: MQTTMessage) async {
        guard let confirm = try? ContractCoding.decode(DoorConfirm.self, from: message.payload) else {
            refuse("malformed", message: message)
            return
        }
        do {
            // The usual case: verified with the secrets read before, recorded if they are still the device's.
            if let known = keyrings[confirm.deviceId], let proof = known.proof(of: confirm),
               try await ledger.confirmUsual(
                   jobID: confirm.jobId, deviceID: confirm.deviceId, nonce: confirm.nonce, result: confirm.result,
                   code: confirm.code, message: confirm.message, via: "mqtt", proof: proof
               ) {
                recorded(confirm, status: confirm.result.jobStatus)
                return
            }
            // Anything else (first confirm of a device, a rotation, a repeat, too late) with the secrets as they are now.
            let keyring = try await devices.keyring(of: confirm.deviceId)
            keyrings[confirm.deviceId] = keyring
            guard let keyring, keyring.proof(of: confirm) != nil else {
                refuse("bad_signature", message: message, confirm: confirm)
                return
            }
            let outcome = try await ledger.confirm(
                jobID: confirm.jobId, deviceID: confirm.deviceId, nonce: confirm.nonce, result: confirm.result,
                code: confirm.code, message: confirm.message, via: "mqtt"
            )
            switch outcome {
            case .recorded(let status):
                recorded(confirm, status: status)
            case .refused(let error):
                refuse(error.error, message: message, confirm: confirm)
            }
        } catch {
            // Not acknowledged as done: the broker already has the PUBACK, so log loudly; the job expires on time.
            logger.error("door confirm could not be recorded", metadata: ["job.id": "\(confirm.jobId)", "error": "\(error)"])
        }
    }

    private func recorded(_ confirm: DoorConfirm, status: DoorJobStatus) {
        Counter(label: "leitstand_door_confirms_total", dimensions: [("result", status.rawValue)]).increment()
        logger.info("door job confirmed", metadata: ["job.id": "\(confirm.jobId)", "device.id": "\(confirm.deviceId)", "job.status": "\(status.rawValue)"])
    }

    private func refuse(_ reason: String, message: MQTTMessage, confirm: DoorConfirm? = nil) {
        Counter(label: "leitstand_door_confirms_refused_total", dimensions: [("reason", reason)]).increment()
        logger.warning("door confirm refused", metadata: [
            "reason": "\(reason)", "mqtt.topic": "\(message.topic)",
            "job.id": "\(confirm?.jobId ?? "-")", "device.id": "\(confirm?.deviceId ?? "-")",
        ])
    }
}
