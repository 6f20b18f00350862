import Contracts
import DoorCrypto
import DoorStore
import Dispatch
import Foundation
import Logging
import MQTT
import Metrics
import ServiceLifecycle

/// Answers the gateway's door requests (`leitstand/rpc/door-scheduler/{open,job,poll,confirm}`) and publishes
/// the jobs it creates. Every answer is an ``RPCReply`` the gateway passes on as HTTP.
///
/// Every request is sealed by the gateway (``RPCSeal``, `LEITSTAND_RPC_KEY`) and carries its asker's deadline. The
/// responder drops one that arrives late (a paused scheduler, a request the gateway's client re-sent after a
/// reconnect); an open checks it again in the transaction, under its locks, before deciding. A request answered by
/// nobody is a 503 at the gateway, and then the door must not open: so a new job's 202 is sent first and must reach
/// the broker before the deadline, and only then is the job published, itself carrying the deadline for the device
/// (`deliverByMs`); a job whose answer or publish did not get through in time is expired as NOT_DISPATCHED.
struct DoorRequestService: Service {
    let client: MQTTClient
    let seal: RPCSeal
    let ledger: DoorJobLedger
    let devices: DeviceRegistry
    let presence: DevicePresence
    let dispatches: DispatchRecorder
    let logger: Logger

    /// Door requests are small; nothing legitimate comes near this.
    static let maximumRequestBytes = 16_384
    /// How long past its deadline a request may still work on what it must clean up.
    static let cleanupTime = Duration.seconds(2)

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await client.serveRequests(on: Topic.rpcMethods(of: DoorRPC.service), maximumPayloadBytes: Self.maximumRequestBytes) { request in
                await answer(request)
            }
        }
    }

    /// The reply, or nil when the asker has given up and must get none (or was answered already).
    private func answer(_ request: MQTTMessage) async -> Data? {
        let method = request.topic.split(separator: "/").last.flatMap { DoorRPC.Method(rawValue: String($0)) }
        guard let (body, sealedDeadline) = seal.open(request.payload, topic: request.topic) else {
            Counter(label: "leitstand_door_requests_refused_total", dimensions: [("reason", "bad_seal")]).increment()
            logger.warning("door request refused: not sealed with LEITSTAND_RPC_KEY", metadata: ["mqtt.topic": "\(request.topic.prefix(120))"])
            return Self.reply(.schedulerUnavailable, "the request is not sealed with this scheduler's LEITSTAND_RPC_KEY")
        }
        // The responder dropped requests without a deadline; the sealed one cannot have been extended on the way.
        let deadline = min(sealedDeadline, request.deadline ?? sealedDeadline)
        guard deadline > Date() else {
            Counter(label: "leitstand_door_requests_late_total", dimensions: [("stage", "arrival")]).increment()
            return nil
        }
        do {
            // Every database call on the way is bounded: by the deadline, and a little beyond it for what must still
            // be cleaned up then (a job whose answer or publish ran out is expired); an answer after the deadline
            // finds nobody.
            let bound = Duration.milliseconds(max(1, Int(deadline.timeIntervalSinceNow * 1_000))) + Self.cleanupTime
            return try await withTimeout(bound, operation: "door \(method?.rawValue ?? "request")") {
                switch method {
                case .open: return try await open(try ContractCoding.decode(DoorRPC.OpenRequest.self, from: body), deadline: deadline, request: request)
                case .job: return try await job(try ContractCoding.decode(DoorRPC.JobRequest.self, from: body))
                case .poll: return try await poll(try ContractCoding.decode(DoorRPC.PollRequest.self, from: body))
                case .confirm: return try await confirm(try ContractCoding.decode(DoorRPC.ConfirmRequest.self, from: body))
                case nil: return Self.reply(.invalidRequest, "no such door method")
                }
            }
        } catch is DecodingError {
            return Self.reply(.invalidRequest, "the request is not valid JSON for this method")
        } catch MQTTError.timeout {
            Counter(label: "leitstand_door_requests_late_total", dimensions: [("stage", "handling")]).increment()
            logger.warning("door request ran out of time; no answer", metadata: ["rpc.method": "\(method?.rawValue ?? "-")"])
            return nil
        } catch {
            logger.error("door request failed", metadata: ["rpc.method": "\(method?.rawValue ?? "-")", "error": "\(error)"])
            return Self.reply(.schedulerUnavailable, "the door scheduler could not complete the request")
        }
    }

    private func open(_ request: DoorRPC.OpenRequest, deadline: Date, request message: MQTTMessage) async throws -> Data? {
        guard DoorNames.isValidMember(request.session.member) else { return Self.reply(.unauthorized, "log in first") }
        guard DoorNames.isValidArea(request.area) else { return Self.reply(.unknownArea, "no area has such a name") }
        if let key = request.idempotencyKey, !DoorNames.isValidIdempotencyKey(key) {
            return Self.reply(.invalidRequest, "Idempotency-Key must be 1–\(DoorNames.maximumIdempotencyKeyLength) visible ASCII characters")
        }
        let started = DispatchTime.now()
        switch try await ledger.open(request, deadline: deadline, onlineDevices: presence.onlineDevices) {
        case .late:
            Counter(label: "leitstand_door_requests_late_total", dimensions: [("stage", "decision")]).increment()
            logger.warning("door open came too late; nothing decided", metadata: ["member": "\(request.session.member)", "area": "\(request.area)"])
            return nil
        case .repeated(let accepted):
            return Self.reply(202, accepted)
        case .refused(let error):
            Counter(label: "leitstand_door_opens_refused_total", dimensions: [("reason", error.error)]).increment()
            logger.info("door open refused", metadata: ["member": "\(request.session.member)", "area": "\(request.area)", "error": "\(error.error)"])
            return Self.reply(refusal: error)
        case .created(let accepted, let dispatch):
            logger.info("door job created", metadata: ["job.id": "\(accepted.jobId)", "member": "\(request.session.member)", "area": "\(request.area)", "device.id": "\(dispatch.job.deviceId)"])
            // The member's 202 first: the door may open only once the answer that says so has reached the broker.
            guard await answered(message, with: Self.reply(202, accepted), before: deadline) else {
                Counter(label: "leitstand_door_requests_late_total", dimensions: [("stage", "answer")]).increment()
                _ = try? await ledger.expireUndispatched(jobID: accepted.jobId)
                return nil
            }
            if dispatch.overMQTT, !(await publish(dispatch.job, before: deadline)) {
                Counter(label: "leitstand_door_requests_late_total", dimensions: [("stage", "dispatch")]).increment()
                _ = try? await ledger.expireUndispatched(jobID: accepted.jobId)
                return nil
            }
            Counter(label: "leitstand_door_jobs_created_total").increment()
            Timer(label: "leitstand_door_open_seconds").recordInterval(since: started)
            return nil
        }
    }

    /// Sends `reply` to the request and waits for the broker's PUBACK until `deadline`; true when it came in time.
    private func answered(_ request: MQTTMessage, with reply: Data, before deadline: Date) async -> Bool {
        do {
            try await withTimeout(.milliseconds(max(1, Int(deadline.timeIntervalSinceNow * 1_000))), operation: "answer a door open") {
                try await client.replyAcknowledged(to: request, payload: reply)
            }
            return true
        } catch {
            logger.error("door open answer did not reach the broker in time; the job is not dispatched", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Publishes the signed job (QoS 1, never retained, expiring with its window) and waits for the broker's
    /// PUBACK until the asker's deadline; true when it came in time. Recording `dispatched` (in batches) does not
    /// wait. The job carries the deadline (`deliverByMs`): a device it reaches later refuses it.
    ///
    /// Nothing is published without a connection: libmosquitto would keep a QoS 1 message and send it after the
    /// reconnect, when the member has long been told that the open failed.
    private func publish(_ job: DoorJob, before deadline: Date) async -> Bool {
        guard client.isConnected else {
            logger.error("door job not dispatched: no broker connection", metadata: ["job.id": "\(job.jobId)"])
            return false
        }
        var stamped = job
        stamped.issuedAt = Date()
        let secondsLeft = max(1, Int(job.expiresAt.timeIntervalSinceNow.rounded(.up)))
        do {
            let payload = try ContractCoding.encode(stamped)
            try await withTimeout(.milliseconds(max(1, Int(deadline.timeIntervalSinceNow * 1_000))), operation: "publish door job") {
                try await client.publish(
                    Topic.doorJobs(area: job.area), payload: payload, qos: .atLeastOnce, retain: false,
                    properties: MQTTPublishProperties(messageExpiry: .seconds(secondsLeft))
                )
            }
            dispatches.record(job)
            return true
        } catch {
            logger.error("door job not dispatched before the request ran out", metadata: ["job.id": "\(job.jobId)", "error": "\(error)"])
            return false
        }
    }

    private func job(_ request: DoorRPC.JobRequest) async throws -> Data {
        guard DoorNames.isValidMember(request.session.member) else { return Self.reply(.unauthorized, "log in first") }
        switch try await ledger.view(jobID: request.jobId, session: request.session) {
        case .job(let view): return Self.reply(200, view)
        case .notFound: return Self.reply(.unknownJob, "no such job of yours")
        case .sessionEnded: return Self.reply(.unauthorized, "your session has ended; log in again")
        }
    }

    private func poll(_ request: DoorRPC.PollRequest) async throws -> Data {
        guard DoorNames.isValidDeviceID(request.deviceId), request.secretDigest.utf8.count == 64,
            let secrets = try await devices.secrets(of: request.deviceId), secrets.matches(digest: request.secretDigest)
        else {
            logger.warning("device poll refused", metadata: ["device.id": "\(request.deviceId.prefix(64))"])
            return Self.reply(.deviceForbidden, "unknown device or wrong secret")
        }
        return Self.reply(200, DoorRPC.PollReply(jobs: try await ledger.poll(deviceID: request.deviceId)))
    }

    private func confirm(_ request: DoorRPC.ConfirmRequest) async throws -> Data {
        guard DoorNames.isValidDeviceID(request.deviceId), request.secretDigest.utf8.count == 64,
            let secrets = try await devices.secrets(of: request.deviceId), secrets.matches(digest: request.secretDigest)
        else {
            logger.warning("device confirm refused", metadata: ["device.id": "\(request.deviceId.prefix(64))", "job.id": "\(request.jobId.prefix(64))"])
            return Self.reply(.deviceForbidden, "unknown device or wrong secret")
        }
        guard DoorNames.isValidNonce(request.nonce) else { return Self.reply(.nonceMismatch, "the nonce is not this job's") }
        let outcome = try await ledger.confirm(
            jobID: request.jobId, deviceID: request.deviceId, nonce: request.nonce, result: request.result,
            code: nil, message: request.message.map { String($0.prefix(DoorNames.maximumConfirmMessageLength)) }, via: "http"
        )
        switch outcome {
        case .recorded(let status): return Self.reply(200, DoorRPC.ConfirmReply(status: status))
        case .refused(let error): return Self.reply(refusal: error)
        }
    }

    /// An error answer, with the HTTP status its code has in the contract.
    static func reply(_ error: DoorError, _ message: String) -> Data {
        reply(refusal: ErrorBody(error.rawValue, message: message))
    }

    static func reply(refusal: ErrorBody) -> Data {
        reply(DoorError(rawValue: refusal.error)?.httpStatus ?? DoorError.invalidRequest.httpStatus, refusal)
    }

    static func reply(_ status: Int, _ body: some Codable & Sendable) -> Data {
        (try? ContractCoding.encode(RPCReply(status: status, body: body))) ?? Data(#"{"status":500,"body":{"error":"internal"}}"#.utf8)
    }
}
