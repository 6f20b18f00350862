/// Continuations waiting for an acknowledgement that libmosquitto reports by message id (SUBACK).
///
/// A waiter is registered under the client's lock in the same critical section that hands the packet to
/// libmosquitto, and callbacks take the same lock, so an acknowledgement can never overtake its waiter.
/// Each waiter also has a token so that a cancelled task can withdraw it without knowing its message id.
/// Continuations are only handed to `Resumptions`, to resume after the lock is released.
struct PendingAcknowledgements<Value: Sendable> {
    private var waiters: [Int32: (token: UInt64, continuation: CheckedContinuation<Value, any Error>)] = [:]

    var isEmpty: Bool { waiters.isEmpty }

    mutating func insert(messageID: Int32, token: UInt64, continuation: CheckedContinuation<Value, any Error>) {
        waiters[messageID] = (token, continuation)
    }

    /// Acknowledgements nobody waits for (resubscriptions after a reconnect) are ignored.
    mutating func resume(messageID: Int32, with result: Result<Value, any Error>, _ resumptions: inout Resumptions) {
        guard let waiter = waiters.removeValue(forKey: messageID) else { return }
        resumptions.resume(waiter.continuation, with: result)
    }

    mutating func cancel(token: UInt64, _ resumptions: inout Resumptions) {
        guard let entry = waiters.first(where: { $0.value.token == token }) else { return }
        waiters.removeValue(forKey: entry.key)
        resumptions.resume(entry.value.continuation, with: .failure(CancellationError()))
    }

    mutating func resumeAll(with result: Result<Value, any Error>, _ resumptions: inout Resumptions) {
        for entry in waiters.values { resumptions.resume(entry.continuation, with: result) }
        waiters.removeAll()
    }
}
