/// Errors raised by ``MQTTClient``.
public enum MQTTError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `LEITSTAND_MQTT_URL` (or an equivalent) could not be used; the text says why, never the password.
    case invalidURL(String)
    /// libmosquitto refused a call; `code` is the `MOSQ_ERR_*` value.
    case library(operation: String, code: Int32, message: String)
    /// The broker refused a publish or subscription; `reasonCode` is the MQTT v5 reason code (e.g. 0x87 not authorized).
    case refused(operation: String, reasonCode: Int)
    /// ``MQTTClient/request(_:payload:timeout:messageExpiry:)`` needs ``MQTTConfiguration/responseTopic``.
    case noResponseTopic
    /// No connection to the broker (yet, or any more).
    case notConnected
    /// The broker had no subscriber for a request's topic (PUBACK reason 0x10), so no reply can come.
    case noSubscribers(topic: String)
    /// The client was shut down while the operation waited.
    case shutDown
    /// No reply or acknowledgement arrived in time.
    case timeout(operation: String)
    /// A message to `topic` would make a packet of `bytes` bytes (MQTT headers and properties included), more than
    /// ``MQTTConfiguration/maximumPacketSize`` (`limit`). Nothing was queued.
    case payloadTooLarge(topic: String, bytes: Int, limit: Int)
    /// ``MQTTConfiguration/maximumPendingPublishes`` QoS 1/2 publishes already await their PUBACK; nothing was queued.
    /// Also the error of a waiter whose message id libmosquitto handed out again while it still waited.
    case tooManyPendingPublishes
    /// A request named a response topic that ``MQTTConfiguration/replyTopicFilter`` does not allow; no reply was sent.
    case responseTopicRefused(topic: String)

    public var description: String {
        switch self {
        case .invalidURL(let why): "invalid MQTT URL: \(why)"
        case .library(let operation, let code, let message): "\(operation) failed: \(message) (MOSQ_ERR \(code))"
        case .refused(let operation, let reasonCode): "\(operation) refused by the broker (reason code 0x\(String(reasonCode, radix: 16)))"
        case .noResponseTopic: "requests need a response topic in the MQTT configuration"
        case .notConnected: "not connected to the MQTT broker"
        case .noSubscribers(let topic): "nobody subscribes to \(topic)"
        case .shutDown: "the MQTT client was shut down"
        case .timeout(let operation): "\(operation) timed out"
        case .tooManyPendingPublishes: "too many publishes await their acknowledgement"
        case .responseTopicRefused(let topic): "no reply to \(topic): not a reply topic"
        case .payloadTooLarge(let topic, let bytes, let limit): "a message to \(topic) would be \(bytes) bytes, more than the broker's limit of \(limit)"
        }
    }
}
