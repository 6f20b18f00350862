import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MQTT
import NIOCore
import ServiceKit

/// Asks the door-scheduler over MQTT and turns its ``RPCReply`` into the HTTP response, body unchanged; an
/// `retryAfterSeconds` in it becomes the `Retry-After` header too. No answer in time is 503.
struct SchedulerLink: Sendable {
    let mqtt: MQTTClient
    let timeout: Duration
    let logger: Logger

    func call(_ method: DoorRPC.Method, _ request: some Encodable & Sendable) async -> Response {
        let reply: MQTTMessage
        do {
            reply = try await mqtt.request(method.topic, payload: try ContractCoding.encode(request), timeout: timeout)
        } catch {
            logger.warning("door scheduler did not answer", metadata: ["rpc.method": "\(method.rawValue)", "error": "\(error)"])
            return DoorError.schedulerUnavailable.response("the door scheduler is not reachable; try again", retryAfter: 2)
        }
        guard
            let envelope = try? JSONSerialization.jsonObject(with: reply.payload) as? [String: Any],
            let status = envelope["status"] as? Int,
            let body = envelope["body"],
            let bodyData = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])
        else {
            logger.error("door scheduler sent a malformed reply", metadata: ["rpc.method": "\(method.rawValue)"])
            return DoorError.schedulerUnavailable.response("the door scheduler sent a malformed reply", retryAfter: 2)
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter = (body as? [String: Any])?["retryAfterSeconds"] as? Int { headers[.retryAfter] = String(retryAfter) }
        return Response(status: .init(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bodyData)))
    }

}

extension DoorError {
    /// This error as the gateway answers it itself: `{"error","message","retryAfterSeconds"}` and `Retry-After`.
    func response(_ message: String, retryAfter: Int? = nil) -> Response {
        var headers: HTTPFields = [:]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        let body = ErrorBody(rawValue, message: message, retryAfterSeconds: retryAfter)
        return (try? JSONResponse.make(.init(code: httpStatus), body, headers: headers)) ?? Response(status: .init(code: httpStatus))
    }
}
