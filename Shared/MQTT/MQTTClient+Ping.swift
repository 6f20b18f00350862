import CMosquitto
import Foundation
import Synchronization

/// A live round trip to the broker, for health checks: `isConnected` stays true for as long as the keep-alive
/// takes to notice a broker that no longer answers (`/health` said "up" for 35 s of a paused broker, issue 10,
/// item 14).
extension MQTTClient {
    /// A filter nobody subscribes to. Unsubscribing from it changes nothing on the broker, and it needs no ACL
    /// right: Mosquitto answers every UNSUBSCRIBE with an UNSUBACK (0x11 "no subscription existed", or 0x87 where
    /// a plugin refuses), and any answer proves the broker reads and writes our connection.
    static let pingFilter = "$leitstand/ping"

    /// Sends the broker an UNSUBSCRIBE of a filter never subscribed to and waits for its UNSUBACK. Throws
    /// ``MQTTError/timeout(operation:)`` when no answer came within `timeout` and ``MQTTError/notConnected``
    /// without a connection (or when it is lost meanwhile).
    public func ping(timeout: Duration) async throws {
        try await withTimeout(timeout, operation: "ping the MQTT broker") {
            try await self.roundTrip()
        }
    }

    private func roundTrip() async throws {
        let token = makeToken()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // The UNSUBSCRIBE is queued under the lock that the UNSUBACK callback takes: the answer cannot
                // overtake its waiter.
                let failure = state.withLock { state -> (any Error)? in
                    if Task.isCancelled { return CancellationError() }
                    guard state.isConnected else { return MQTTError.notConnected }
                    var messageID: Int32 = 0
                    let rc = mosquitto_unsubscribe_v5(handle, &messageID, Self.pingFilter, nil)
                    guard rc == MOSQ_ERR_SUCCESS.rawValue else { return MQTTError.notConnected }
                    state.pings.insert(messageID: messageID, token: token, continuation: continuation)
                    return nil
                }
                wakeup.wakeIfSleeping()
                if let failure { continuation.resume(throwing: failure) }
            }
        } onCancel: {
            var resumptions = Resumptions()
            state.withLock { $0.pings.cancel(token: token, &resumptions) }
            resumptions.run()
        }
    }
}
