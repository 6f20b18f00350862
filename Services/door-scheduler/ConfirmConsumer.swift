import Contracts
import DoorCrypto
import DoorStore
import Foundation
import Logging
import MQTT
import Metrics
import ServiceKit
import ServiceLifecycle

/// Takes the devices' signed confirms from `leitstand/door/+/confirm`. The scheduler's MQTT session is
/// persistent, so confirms sent while it restarts wait in the broker and arrive here afterwards; replicas share
/// the subscription. A confirm is checked (signature under the device's secrets, device, nonce) and recorded;
/// a repeated one changes nothing.
///
/// libmosquitto acknowledges a confirm to the broker before we have seen it, so that acknowledgement proves
/// nothing: once a confirm is recorded (or refused for good) the device gets a ``DoorConfirmReceipt``, signed with
/// its own secret, on its own reply topic, and it sends the confirm again until it has one. A confirm that could
/// not be recorded (the database, a kill) gets no receipt and comes again; one whose signature does not verify,
/// or that names another reply topic, gets none either.
///
/// One door device can flood its areas' confirm topics: each area topic gets ``perAreaPerSecond`` confirms (with a
/// burst); the rest are dropped before any database work, so that the flood neither loads the database nor fills
/// the subscription's buffer, whose backpressure would hold up the door requests on the same connection.
struct ConfirmConsumer: Service {
    static let subscription = "$share/door-scheduler/\(Topic.allDoorConfirms)"

    /// Made before the client connects (see `main.swift`), so that confirms the broker kept for this session and
    /// delivers right after the CONNACK already find their subscription.
    let confirms: MQTTSubscription
    let client: MQTTClient
    let ledger: DoorJobLedger
    let devices: DeviceRegistry
    let keyrings = DeviceKeyrings()
    let logger: Logger
    /// Confirms per area topic (what a device may publish to, so it cannot spend another area's share).
    private let perArea = KeyedRateLimit(perSecond: Double(Self.perAreaPerSecond), burst: 3 * Self.perAreaPerSecond)
    /// A log line per topic and second at most, for the confirms dropped by the limit.
    private let dropLog = KeyedRateLimit(perSecond: 1, burst: 1)

    static let perAreaPerSecond = 20
    /// Confirms recorded at once; each is its own transaction, and repeats of one job serialise on its row lock.
    static let concurrency = 32
    /// A confirm is a few hundred bytes; anything near this is not one.
    static let maximumConfirmBytes = 8_192

    init(confirms: MQTTSubscription, client: MQTTClient, ledger: DoorJobLedger, devices: DeviceRegistry, logger: Logger) {
        self.confirms = confirms
        self.client = client
        self.ledger = ledger
        self.devices = devices
        self.logger = logger
    }

    func run() async throws {
        await confirms.cancelOnGracefulShutdown().forEach(atMost: Self.concurrency) { message in
            guard perArea.allows(message.topic) else {
                Counter(label: "leitstand_door_confirms_refused_total", dimensions: [("reason", "rate_limited")]).increment()
                if dropLog.allows(message.topic) {
                    logger.warning("door confirms dropped: more than the area's share", metadata: ["mqtt.topic": "\(message.topic)"])
                }
                return
            }
            await handle(message)
        }
    }

    private func handle(_ message: MQTTMessage) async {
        guard message.payload.count <= Self.maximumConfirmBytes,
            let confirm = try? ContractCoding.decode(DoorConfirm.self, from: message.payload),
            DoorNames.isValidDeviceID(confirm.deviceId), UUID(uuidString: confirm.jobId) != nil
        else {
            refuse("malformed", message: message)
            return
        }
        let text = String(confirm.message.prefix(DoorNames.maximumConfirmMessageLength))
        do {
            // The usual case: verified with the secrets read before, recorded if they are still the device's.
            if let known = keyrings[confirm.deviceId], let proof = known.proof(of: confirm), DoorNames.isValidNonce(confirm.nonce),
               try await ledger.confirmUsual(
                   jobID: confirm.jobId, deviceID: confirm.deviceId, nonce: confirm.nonce, result: confirm.result,
                   code: confirm.code, message: text, via: "mqtt", proof: proof
               ) {
                recorded(confirm, status: confirm.result.jobStatus)
                return acknowledge(message, confirm, DoorConfirmReceipt(jobId: confirm.jobId, status: confirm.result.jobStatus), signedWith: known.secret(of: proof))
            }
            // Anything else (first confirm of a device, a rotation, a repeat, too late) with the secrets as they are now.
            let keyring = try await devices.keyring(of: confirm.deviceId)
            keyrings[confirm.deviceId] = keyring
            guard let keyring, let proof = keyring.proof(of: confirm) else {
                // Not answered: whoever could not sign this is owed nothing, and must not make us answer anyone.
                refuse("bad_signature", message: message, confirm: confirm)
                return
            }
            guard DoorNames.isValidNonce(confirm.nonce) else {
                refuse(DoorError.nonceMismatch.rawValue, message: message, confirm: confirm)
                return acknowledge(message, confirm, DoorConfirmReceipt(jobId: confirm.jobId, error: DoorError.nonceMismatch.rawValue), signedWith: keyring.secret(of: proof))
            }
            let outcome = try await ledger.confirm(
                jobID: confirm.jobId, deviceID: confirm.deviceId, nonce: confirm.nonce, result: confirm.result,
                code: confirm.code, message: text, via: "mqtt"
            )
            switch outcome {
            case .recorded(let status):
                recorded(confirm, status: status)
                acknowledge(message, confirm, DoorConfirmReceipt(jobId: confirm.jobId, status: status), signedWith: keyring.secret(of: proof))
            case .refused(let error):
                refuse(error.error, message: message, confirm: confirm)
                acknowledge(message, confirm, DoorConfirmReceipt(jobId: confirm.jobId, error: error.error), signedWith: keyring.secret(of: proof))
            }
        } catch {
            // No receipt: the device sends the confirm again, and it is recorded then.
            logger.error("door confirm could not be recorded; the device will send it again", metadata: ["job.id": "\(confirm.jobId)", "error": "\(error)"])
        }
    }

    /// The receipt that ends the device's re-sending: signed with the secret that signed the confirm, and sent only
    /// to the device's own reply topic (a confirm naming any other gets none; an old device without one, none).
    private func acknowledge(_ message: MQTTMessage, _ confirm: DoorConfirm, _ receipt: DoorConfirmReceipt, signedWith secret: String) {
        guard message.responseTopic == Topic.replies(clientID: confirm.deviceId) else { return }
        do {
            try client.reply(to: message, payload: try ContractCoding.encode(receipt.signed(with: secret)))
        } catch {
            logger.warning("door confirm receipt not sent; the device will send the confirm again", metadata: [
                "job.id": "\(receipt.jobId)", "error": "\(String(describing: error).prefix(200))",
            ])
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
