import Contracts
import DoorStore
import Dispatch
import Foundation
import Logging
import MQTT
import Metrics
import ServiceLifecycle

/// Answers the gateway's door requests (`leitstand/rpc/door-scheduler/{open,job,poll,confirm}`) and publishes
/// the jobs it creates. Every answer is an ``RPCReply`` the gateway passes on as HTTP.
struct DoorRequestService: Service {
    let client: MQTTClient
    let ledger: DoorJobLedger
    let devices: DeviceRegistry
    let presence: DevicePresence
    let dispatches: DispatchRecorder
    let logger: Logger

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await client.serveRequests(on: Topic.rpcMethods(of: DoorRPC.service)) { request in
                await answer(request)
            }
        }
    }

    private func answer(_ request: MQTTMessage) async -> Data {
        let method = request.topic.split(separator: "/").last.flatMap { DoorRPC.Method(rawValue: String($0)) }
        do {
            switch method {
            case .open: return try await open(try ContractCoding.decode(DoorRPC.OpenRequest.self, from: request.payload))
            case .job: return try await job(try ContractCoding.decode(DoorRPC.JobRequest.self, from: request.payload))
            case .poll: return try await poll(try ContractCoding.decode(DoorRPC.PollRequest.self, from: request.payload))
            case .confirm: return try await confirm(try ContractCoding.decode(DoorRPC.ConfirmRequest.self, from: request.payload))
            case nil: return Self.reply(.invalidRequest, "no door method \(request.topic)")
            }
        } catch is DecodingError {
            return Self.reply(.invalidRequest, "the request is not valid JSON for \(request.topic)")
        } catch {
            logger.error("door request failed", metadata: ["mqtt.topic": "\(request.topic)", "error": "\(error)"])
            return Self.reply(.schedulerUnavailable, "the door scheduler could not complete the request")
        }
    }

    private func open(_ request: DoorRPC.OpenRequest) async throws -> Data {
        let started = DispatchTime.now()
        switch try await ledger.open(request, onlineDevices: presence.onlineDevices) {
        case .repeated(let accepted):
            return Self.reply(202, accepted)
        case .refused(let error):
            Counter(label: "leitstand_door_opens_refused_total", dimensions: [("reason", error.error)]).increment()
            logger.info("door open refused", metadata: ["member": "\(request.member)", "area": "\(request.area)", "error": "\(error.error)"])
            return Self.reply(refusal: error)
        case .created(let accepted, let dispatch):
            logger.info("door job created", metadata: ["job.id": "\(accepted.jobId)", "member": "\(request.member)", "area": "\(request.area)", "device.id": "\(dispatch.job.deviceId)"])
            if dispatch.overMQTT { try await publish(dispatch.job) }
            Counter(label: "leitstand_door_jobs_created_total").increment()
            Timer(label: "leitstand_door_open_seconds").recordInterval(since: started)
            return Self.reply(202, accepted)
        }
    }

    /// Publishes the signed job (QoS 1, never retained, expiring with its window); the broker's PUBACK comes
    /// before the 202. Recording `dispatched` (in batches) does not hold up the member's answer. A failed publish
    /// leaves the job pending; it expires on time.
    private func publish(_ job: DoorJob) async throws {
        var stamped = job
        stamped.issuedAt = Date()
        let secondsLeft = max(1, Int(job.expiresAt.timeIntervalSinceNow.rounded(.up)))
        do {
            try await client.publish(
                Topic.doorJobs(area: job.area),
                payload: try ContractCoding.encode(stamped),
                qos: .atLeastOnce,
                retain: false,
                properties: MQTTPublishProperties(messageExpiry: .seconds(secondsLeft))
            )
            dispatches.record(job)
        } catch {
            logger.error("door job not dispatched", metadata: ["job.id": "\(job.jobId)", "error": "\(error)"])
        }
    }

    private func job(_ request: DoorRPC.JobRequest) async throws -> Data {
        guard let view = try await ledger.view(jobID: request.jobId, member: request.member, isAdmin: request.isAdmin) else {
            return Self.reply(.unknownJob, "no job \(request.jobId) of yours")
        }
        return Self.reply(200, view)
    }

    private func poll(_ request: DoorRPC.PollRequest) async throws -> Data {
        guard let secrets = try await devices.secrets(of: request.deviceId), secrets.matches(digest: request.secretDigest) else {
            logger.warning("device poll refused", metadata: ["device.id": "\(request.deviceId)"])
            return Self.reply(.deviceForbidden, "unknown device or wrong secret")
        }
        return Self.reply(200, DoorRPC.PollReply(jobs: try await ledger.poll(deviceID: request.deviceId)))
    }

    private func confirm(_ request: DoorRPC.ConfirmRequest) async throws -> Data {
        guard let secrets = try await devices.secrets(of: request.deviceId), secrets.matches(digest: request.secretDigest) else {
            logger.warning("device confirm refused", metadata: ["device.id": "\(request.deviceId)", "job.id": "\(request.jobId)"])
            return Self.reply(.deviceForbidden, "unknown device or wrong secret")
        }
        let outcome = try await ledger.confirm(
            jobID: request.jobId, deviceID: request.deviceId, nonce: request.nonce, result: request.result,
            code: nil, message: request.message, via: "http"
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
