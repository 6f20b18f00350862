import Contracts
import DoorCrypto
import Foundation
import HTTPTypes
import JWTKit
import Hummingbird
import Logging
import NIOCore
import ServiceKit

/// The door API: members open doors and watch their jobs; devices without MQTT poll and confirm over HTTP.
/// The gateway only authenticates and forwards; the door-scheduler decides.
struct DoorEndpoints: Sendable {
    let sessions: MemberSessions
    let scheduler: SchedulerLink
    private static let idempotencyKeyHeader = HTTPField.Name("Idempotency-Key")!
    private static let deviceSecretHeader = HTTPField.Name("X-Device-Secret")!

    func register(on router: Router<some RequestContext>) {
        router.post("api/door/open/:area") { request, context in
            await open(request, area: context.parameters.get("area") ?? "")
        }
        router.get("api/door/jobs/:jobId") { request, context in
            await job(request, id: context.parameters.get("jobId") ?? "")
        }
        router.get("api/device/poll/:deviceId") { request, context in
            await poll(request, deviceID: context.parameters.get("deviceId") ?? "")
        }
        router.post("api/device/confirm/:jobId") { request, context in
            await confirm(request, jobID: context.parameters.get("jobId") ?? "")
        }
    }

    private static let unauthorized = DoorError.unauthorized.response("log in first: POST /api/auth/login")

    private func open(_ request: Request, area: String) async -> Response {
        guard let session = await sessions.session(of: request) else { return Self.unauthorized }
        let key = request.headers[Self.idempotencyKeyHeader]
        if let key, !DoorNames.isValidIdempotencyKey(key) {
            return DoorError.invalidRequest.response("Idempotency-Key must be 1–\(DoorNames.maximumIdempotencyKeyLength) visible ASCII characters")
        }
        // No area can have another name: answered here, without bothering the scheduler with it.
        guard DoorNames.isValidArea(area) else { return DoorError.unknownArea.response("no area has such a name") }
        return await scheduler.call(.open, DoorRPC.OpenRequest(session: session, area: area, idempotencyKey: key))
    }

    private func job(_ request: Request, id: String) async -> Response {
        guard let session = await sessions.session(of: request) else { return Self.unauthorized }
        guard UUID(uuidString: id) != nil else { return DoorError.unknownJob.response("no job \(id.prefix(64)) of yours") }
        return await scheduler.call(.job, DoorRPC.JobRequest(jobId: id, session: session))
    }

    private func poll(_ request: Request, deviceID: String) async -> Response {
        guard let secret = request.headers[Self.deviceSecretHeader], DoorNames.isValidDeviceID(deviceID) else {
            return DoorError.deviceForbidden.response("send the device secret as X-Device-Secret")
        }
        return await scheduler.call(.poll, DoorRPC.PollRequest(deviceId: deviceID, secretDigest: DoorSignature.digest(ofSecret: secret)))
    }

    private struct ConfirmBody: Decodable {
        var deviceId: String
        var nonce: String
        var result: DoorConfirm.Result
        var message: String?
    }

    private func confirm(_ request: Request, jobID: String) async -> Response {
        guard let secret = request.headers[Self.deviceSecretHeader] else {
            return DoorError.deviceForbidden.response("send the device secret as X-Device-Secret")
        }
        guard
            let body = try? await request.body.collect(upTo: 16_384),
            let confirm = try? JSONDecoder().decode(ConfirmBody.self, from: Data(body.readableBytesView))
        else {
            return DoorError.invalidRequest.response(#"send {"deviceId","nonce","result":"executed"|"failed","message"} as JSON"#)
        }
        let forwarded = DoorRPC.ConfirmRequest(jobId: jobID, deviceId: confirm.deviceId, nonce: confirm.nonce, result: confirm.result, message: confirm.message, secretDigest: DoorSignature.digest(ofSecret: secret))
        return await scheduler.call(.confirm, forwarded)
    }
}
