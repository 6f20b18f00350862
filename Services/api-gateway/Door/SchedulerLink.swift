import Contracts
import DoorCrypto
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
    /// Seals each request (`LEITSTAND_RPC_KEY`): the scheduler acts only on what the gateway sealed.
    let seal: RPCSeal
    let logger: Logger

    func call(_ method: DoorRPC.Method, _ request: some Encodable & Sendable) async -> Response {
        let reply: MQTTMessage
        do {
            // The deadline the request carries inside the seal: the same one the MQTT client puts on the message.
            let deadline = MQTTClient.requestDeadline(timeout: timeout)
            let payload = try seal.seal(try ContractCoding.encode(request), topic: method.topic, deadline: deadline)
            reply = try await mqtt.request(method.topic, payload: payload, timeout: timeout)
        } catch {
            logger.warning("door scheduler did not answer", metadata: ["rpc.method": "\(method.rawValue)", "error": "\(error)"])
            return DoorError.schedulerUnavailable.response("the door scheduler is not reachable; try again", retryAfter: 2)
        }
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: reply.payload), let body = Self.body(of: reply.payload) else {
            logger.error("door scheduler sent a malformed reply", metadata: ["rpc.method": "\(method.rawValue)"])
            return DoorError.schedulerUnavailable.response("the door scheduler sent a malformed reply", retryAfter: 2)
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter = envelope.body.retryAfterSeconds { headers[.retryAfter] = String(retryAfter) }
        return Response(status: .init(code: envelope.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// What the gateway reads of a reply; the body itself goes on as it came.
    private struct Envelope: Decodable {
        struct Hints: Decodable {
            var retryAfterSeconds: Int?
        }
        var status: Int
        var body: Hints
    }

    /// The body's bytes in a reply. ContractCoding sorts keys, so a reply is `{"body":…,"status":N}`; a quote
    /// inside a JSON string is escaped, so the last `,"status":` is the envelope's own. Passing the bytes on
    /// spares a parse and re-serialisation per request (that was a seventh of the gateway's CPU).
    static func body(of payload: Data) -> Data? {
        let opening = Data(#"{"body":"#.utf8)
        guard payload.starts(with: opening), let status = payload.range(of: Data(#","status":"#.utf8), options: .backwards) else { return nil }
        return payload[(payload.startIndex + opening.count)..<status.lowerBound]
    }
}

extension DoorError {
    /// This error as the gateway answers it itself: `{"error","message","retryAfterSeconds"}` and `Retry-After`.
    func response(_ message: String, retryAfter: Int? = nil) -> Response {
        ErrorBody(rawValue, message: message, retryAfterSeconds: retryAfter).response(.init(code: httpStatus))
    }
}
