import Foundation
import Logging
import Synchronization

/// Request/response with MQTT v5: the request carries our response topic and random correlation data, and the
/// responder publishes its reply there with the same correlation data.
extension MQTTClient {
    /// Publishes `payload` to `topic` and waits for the reply. Needs ``MQTTConfiguration/responseTopic``.
    /// Fails at once with ``MQTTError/notConnected`` when there is no connection, with
    /// ``MQTTError/noSubscribers(topic:)`` when the broker says nobody subscribes to `topic`, and with
    /// ``MQTTError/timeout(operation:)`` when no reply came in time (a late reply is dropped).
    ///
    /// The request carries its deadline (``MQTTPublishProperties/deadline``): `timeout` minus a margin
    /// (``deadlineMargin(for:)``), so that a responder stops before we do and its answer can still reach us. Its
    /// message expiry is `messageExpiry` or `timeout`, in whole seconds rounded up.
    public func request(
        _ topic: String,
        payload: Data,
        timeout: Duration,
        messageExpiry: Duration? = nil
    ) async throws -> MQTTMessage {
        guard let responseTopic = configuration.responseTopic else {
            throw MQTTError.noResponseTopic
        }
        guard isConnected else { throw MQTTError.notConnected }
        let correlation = Data((0..<16).map { _ in UInt8.random(in: .min ... .max) })
        let properties = MQTTPublishProperties(
            messageExpiry: messageExpiry ?? timeout,
            responseTopic: responseTopic,
            correlationData: correlation,
            deadline: Self.requestDeadline(timeout: timeout)
        )
        let deadline = ContinuousClock.now.advanced(by: timeout)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<MQTTMessage, any Error>) in
                let failure = self.state.withLock { state -> (any Error)? in
                    if Task.isCancelled { return CancellationError() }
                    // Registered before the publish, so that even the fastest reply finds its waiter. The network
                    // thread fails it at its deadline.
                    state.requests.add(continuation, correlation: correlation, topic: topic, deadline: deadline)
                    return nil
                }
                if let failure { return continuation.resume(throwing: failure) }
                do {
                    // The reply itself is the acknowledgement, so the PUBACK is not awaited; it only ends the
                    // wait early when it says that no reply can come.
                    let messageID = try self.enqueuePublish(topic, payload: payload, qos: .atLeastOnce, retain: false, properties: properties)
                    var resumptions = Resumptions()
                    let failure = self.publishAcknowledgements.withLock {
                        $0.watch(requestMessageID: messageID, correlation: correlation, topic: topic, &resumptions)
                    }
                    resumptions.run()
                    if let failure { self.failRequest(correlation, with: failure) }
                } catch {
                    self.failRequest(correlation, with: error)
                }
            }
        } onCancel: {
            self.failRequest(correlation, with: CancellationError())
        }
    }

    /// The deadline a request with `timeout` carries, from now: for an asker that also puts it inside its payload.
    public static func requestDeadline(timeout: Duration) -> Date {
        Date().addingTimeInterval((timeout - deadlineMargin(for: timeout)).timeInterval)
    }

    /// How much earlier than the asker a responder must stop: a tenth of the timeout, at least 20 ms (a round trip
    /// under load) and at most 500 ms (clocks synchronised by NTP agree far better than that).
    public static func deadlineMargin(for timeout: Duration) -> Duration {
        min(max(timeout / 10, .milliseconds(20)), .milliseconds(500))
    }

    /// Ends a waiting request with `error` (if it still waits).
    func failRequest(_ correlation: Data, with error: any Error) {
        state.withLock { $0.requests.remove(correlation) }?.resume(throwing: error)
    }

    /// Publishes `payload` as the reply to `request` (QoS 1, to its response topic, with its correlation data).
    /// Returns once the reply is queued: the requester's wait for it is the acknowledgement that counts, so the
    /// PUBACK is not awaited (that saves a wake-up per reply). A request without a response topic gets no reply;
    /// one whose response topic ``MQTTConfiguration/replyTopicFilter`` does not allow throws
    /// ``MQTTError/responseTopicRefused(topic:)``.
    public func reply(to request: MQTTMessage, payload: Data) throws {
        guard let responseTopic = request.responseTopic else { return }
        let messageID = try enqueuePublish(
            try checkedReplyTopic(responseTopic),
            payload: payload,
            qos: .atLeastOnce,
            retain: false,
            properties: MQTTPublishProperties(correlationData: request.correlationData)
        )
        var resumptions = Resumptions()
        publishAcknowledgements.withLock { $0.ignore(messageIDs: [messageID], &resumptions) }
        resumptions.run()
    }

    /// Publishes `payload` as the reply to `request`, like ``reply(to:payload:)``, and returns when the broker has
    /// acknowledged it: for a responder that may act only once its answer is on its way (a door job is published only
    /// after its member's 202 has reached the broker). Throws ``MQTTError/noResponseTopic`` for a request without a
    /// response topic.
    public func replyAcknowledged(to request: MQTTMessage, payload: Data) async throws {
        guard let responseTopic = request.responseTopic else { throw MQTTError.noResponseTopic }
        try await publish(
            try checkedReplyTopic(responseTopic), payload: payload, qos: .atLeastOnce,
            properties: MQTTPublishProperties(correlationData: request.correlationData)
        )
    }

    /// `topic` if ``MQTTConfiguration/replyTopicFilter`` allows replies to it.
    private func checkedReplyTopic(_ topic: String) throws(MQTTError) -> String {
        guard isReplyTopic(topic) else { throw MQTTError.responseTopicRefused(topic: topic) }
        return topic
    }

    /// Whether ``MQTTConfiguration/replyTopicFilter`` allows replies to `topic`.
    func isReplyTopic(_ topic: String) -> Bool {
        guard let filter = configuration.replyTopicFilter else { return true }
        return Self.topic(topic, matches: filter)
    }
}
