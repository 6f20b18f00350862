import CMosquitto
import Foundation
import NIOCore
import Synchronization

/// Subscriptions: their routes (what the network thread delivers to), their bounded buffers, and their lifetime.
extension MQTTClient {
    /// Subscribes to a topic filter (wildcards and `$share/group/…` included). Messages arrive on the returned
    /// sequence; ending its iteration (or ``MQTTSubscription/cancel()``) unsubscribes. The subscription is
    /// re-sent after every reconnect in which the broker did not keep our session. If the client is not connected
    /// yet, the subscription is sent on the next connect and this returns at once.
    ///
    /// `bufferLimit` (default ``MQTTConfiguration/subscriptionBufferLimit``): how many received messages may wait
    /// for the consumer before the client stops reading from the broker (see ``MQTTSubscription``).
    public func subscribe(
        _ filter: String,
        qos: MQTTQoS = .atLeastOnce,
        options: MQTTSubscriptionOptions = [],
        bufferLimit: Int? = nil
    ) async throws -> MQTTSubscription {
        let token = makeToken()
        let buffer = SubscriptionBuffer(limit: bufferLimit ?? configuration.subscriptionBufferLimit, pressure: readPressure)
        let events = SubscriptionBuffer.Events(
            drained: { [weak self] in self?.wakeup.wakeIfSleeping() },
            terminated: { [weak self] in self?.removeRoute(token) }
        )
        let made = SubscriptionBuffer.Sequence.makeSequence(
            backPressureStrategy: SubscriptionBuffer.BackPressure(buffer: buffer), finishOnDeinit: true, delegate: events
        )
        state.withLock { state in
            state.addRoute(Route(filter: filter, qos: qos, options: options, source: made.source, buffer: buffer, granted: false), token: token)
        }
        let reasonCode = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (ack: CheckedContinuation<Int32, any Error>) in
                // -1: not sent now; the route stays ungranted and is sent on the next connect.
                let sentNow = state.withLock { state -> Bool in
                    guard state.isConnected else { return false }
                    var messageID: Int32 = 0
                    let rc = mosquitto_subscribe_v5(handle, &messageID, filter, qos.rawValue, options.rawValue, nil)
                    wakeup.wakeIfSleeping()
                    guard rc == MOSQ_ERR_SUCCESS.rawValue else { return false }
                    state.subscribes.insert(messageID: messageID, token: token, continuation: ack)
                    return true
                }
                if !sentNow { ack.resume(returning: -1) }
            }
        } onCancel: {
            var resumptions = Resumptions()
            state.withLock { $0.subscribes.cancel(token: token, &resumptions) }
            resumptions.run()
        }
        if reasonCode >= 0x80 {
            removeRoute(token)
            throw MQTTError.refused(operation: "subscribe to \(filter)", reasonCode: Int(reasonCode))
        }
        if reasonCode >= 0 {
            state.withLock { $0.routes[token]?.granted = true }
        }
        return MQTTSubscription(filter: filter, sequence: made.sequence, buffer: buffer) { [weak self] in self?.removeRoute(token) }
    }

    /// Ends a subscription: unsubscribes if no other route uses its filter, finishes its sequence (the consumer
    /// still gets what is buffered) and lets its buffer no longer hold reading back.
    func removeRoute(_ token: UInt64) {
        let route = state.withLock { state -> Route? in
            guard let route = state.removeRoute(token) else { return nil }
            let stillWanted = state.routesPerFilter[route.filter] != nil
            if !stillWanted && state.isConnected {
                _ = mosquitto_unsubscribe_v5(handle, nil, route.filter, nil)
                wakeup.wakeIfSleeping()
            }
            return route
        }
        // Outside the lock: finishing may call the sequence's termination, which comes back here.
        route?.buffer?.retire()
        route?.source?.finish()
    }
}

extension MQTTClient.State {
    mutating func addRoute(_ route: MQTTClient.Route, token: UInt64) {
        routes[token] = route
        routesPerFilter[route.filter, default: 0] += 1
        // The reply route resumes requests (matched by topic and correlation data), so it needs no matching.
        if route.source != nil { topicTree.insert(token, filter: route.filter) }
    }

    mutating func removeRoute(_ token: UInt64) -> MQTTClient.Route? {
        guard let route = routes.removeValue(forKey: token) else { return nil }
        if route.source != nil { topicTree.remove(token, filter: route.filter) }
        routesPerFilter[route.filter, default: 1] -= 1
        if routesPerFilter[route.filter] == 0 { routesPerFilter[route.filter] = nil }
        return route
    }
}
