import Foundation
import Logging
import Metrics

/// The responder side of request/response.
extension MQTTClient {
    /// Subscribes to `filter` and answers requests with what `handler` returns (nil: no reply), at most
    /// `maximumConcurrency` at once; further requests wait in the subscription's bounded buffer, and when that is
    /// full the client stops reading from the broker (see ``MQTTSubscription``). Runs until the surrounding task is
    /// cancelled or the client shuts down. A handler that throws sends no reply (the requester times out); the
    /// error is logged.
    ///
    /// A request whose asker has given up must never act (issue 9, item 1): a request that the broker or a paused
    /// process held back arrives all the same, message expiry or not. So before calling `handler` a request is
    /// dropped, logged at warning and counted (`leitstand_mqtt_requests_dropped_total`, by `reason`) when:
    /// - its payload is larger than `maximumPayloadBytes` (`too_large`);
    /// - it has no response topic, or one ``MQTTConfiguration/replyTopicFilter`` does not allow (`bad_response_topic`);
    /// - it carries no deadline (`no_deadline`): every ``request(_:payload:timeout:messageExpiry:)`` sends one;
    /// - its deadline has passed when a handler would start (`late`).
    ///
    /// A deadline that passes while the handler runs does not stop the reply: the asker waits a margin longer
    /// (``deadlineMargin(for:)``), and what the handler did is better told than not.
    public func serveRequests(
        on filter: String,
        qos: MQTTQoS = .atLeastOnce,
        maximumConcurrency: Int = 64,
        maximumPayloadBytes: Int = 65_536,
        handler: @escaping @Sendable (MQTTMessage) async throws -> Data?
    ) async throws {
        let subscription = try await subscribe(filter, qos: qos)
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for await request in subscription {
                if let reason = refusal(of: request, maximumPayloadBytes: maximumPayloadBytes) {
                    drop(request, reason)
                    continue
                }
                if running >= max(maximumConcurrency, 1) {
                    await group.next()
                    running -= 1
                }
                // Checked when a handler is free, after however long the request waited for one.
                if let deadline = request.deadline, deadline <= Date() {
                    drop(request, .late, late: Date().timeIntervalSince(deadline))
                    continue
                }
                running += 1
                group.addTask { await self.answer(request, with: handler) }
            }
        }
    }

    /// Why a request must be dropped whatever the time; nil if it may be handled (in time).
    private func refusal(of request: MQTTMessage, maximumPayloadBytes: Int) -> MQTTClientMetrics.RequestDrop? {
        if request.payload.count > maximumPayloadBytes { return .tooLarge }
        guard let responseTopic = request.responseTopic, isReplyTopic(responseTopic) else { return .badResponseTopic }
        if request.deadline == nil { return .noDeadline }
        return nil
    }

    private func drop(_ request: MQTTMessage, _ reason: MQTTClientMetrics.RequestDrop, late: TimeInterval? = nil) {
        metrics.requestsDropped[reason]?.increment()
        var metadata: Logger.Metadata = ["mqtt.topic": "\(request.topic)", "reason": "\(reason.rawValue)"]
        if let late { metadata["lateMs"] = "\(Int((late * 1_000).rounded()))" }
        // Cut: a response topic is the asker's choice, up to 64 kB.
        if reason == .badResponseTopic { metadata["mqtt.responseTopic"] = "\((request.responseTopic ?? "none").prefix(200))" }
        if reason == .tooLarge { metadata["bytes"] = "\(request.payload.count)" }
        logger.warning("MQTT request dropped", metadata: metadata)
    }

    private func answer(_ request: MQTTMessage, with handler: @Sendable (MQTTMessage) async throws -> Data?) async {
        do {
            guard let reply = try await handler(request) else { return }
            try self.reply(to: request, payload: reply)
        } catch {
            logger.error("MQTT request handler failed", metadata: ["mqtt.topic": "\(request.topic)", "error": "\(String(describing: error).prefix(300))"])
        }
    }
}
