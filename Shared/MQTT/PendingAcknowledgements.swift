/// Continuations waiting for an acknowledgement that libmosquitto reports by message id (PUBACK, SUBACK).
///
/// A waiter is registered under the client's lock in the same critical section that hands the packet to
/// libmosquitto, and callbacks take the same lock, so an acknowledgement can never overtake its waiter.
/// Each waiter also has a token so that a cancelled task can withdraw it without knowing its message id.
struct PendingAcknowledgements<Value: Sendable> {
    private var waiters: [Int32: (token: UInt64, continuation: CheckedContinuation<Value, any Error>)] = [:]

    mutating func insert(messageID: Int32, token: UInt64, continuation: CheckedContinuation<Value, any Error>) {
        waiters[messageID] = (token, continuation)
    }

    /// Acknowledgements nobody waits for (QoS 0 publishes, resubscriptions after a reconnect) are ignored.
    mutating func resume(messageID: Int32, with result: Result<Value, any Error>) {
        waiters.removeValue(forKey: messageID)?.continuation.resume(with: result)
    }

    mutating func cancel(token: UInt64) {
        guard let entry = waiters.first(where: { $0.value.token == token }) else { return }
        waiters.removeValue(forKey: entry.key)
        entry.value.continuation.resume(throwing: CancellationError())
    }

    mutating func resumeAll(with result: Result<Value, any Error>) {
        let all = waiters
        waiters.removeAll()
        for entry in all.values { entry.continuation.resume(with: result) }
    }
}
