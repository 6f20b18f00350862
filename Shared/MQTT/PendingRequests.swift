import Foundation

/// Requests waiting for their reply, by correlation data, and their deadlines. The network thread expires them
/// (its `poll` sleeps no longer than until the next deadline), so a request costs no timer task of its own.
struct PendingRequests {
    private struct Waiter {
        var continuation: CheckedContinuation<MQTTMessage, any Error>
        var topic: String
    }

    private struct Deadline {
        var instant: ContinuousClock.Instant
        var correlation: Data
    }

    private var waiters: [Data: Waiter] = [:]
    /// A binary min-heap on `instant`. An entry whose request has ended stays until its deadline and is dropped then.
    private var deadlines: [Deadline] = []

    mutating func add(
        _ continuation: CheckedContinuation<MQTTMessage, any Error>,
        correlation: Data,
        topic: String,
        deadline: ContinuousClock.Instant
    ) {
        waiters[correlation] = Waiter(continuation: continuation, topic: topic)
        deadlines.append(Deadline(instant: deadline, correlation: correlation))
        var child = deadlines.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard deadlines[child].instant < deadlines[parent].instant else { break }
            deadlines.swapAt(child, parent)
            child = parent
        }
    }

    /// Ends the request (reply, failure or cancellation); nil when it had already ended.
    mutating func remove(_ correlation: Data) -> CheckedContinuation<MQTTMessage, any Error>? {
        waiters.removeValue(forKey: correlation)?.continuation
    }

    var isEmpty: Bool { waiters.isEmpty }

    /// When the network thread must wake up next to expire a request.
    var nextDeadline: ContinuousClock.Instant? { deadlines.first?.instant }

    /// Fails every request whose deadline has passed with ``MQTTError/timeout(operation:)``.
    mutating func expire(now: ContinuousClock.Instant, _ resumptions: inout Resumptions) {
        while let first = deadlines.first, first.instant <= now {
            popFirstDeadline()
            if let waiter = waiters.removeValue(forKey: first.correlation) {
                resumptions.resume(waiter.continuation, with: .failure(MQTTError.timeout(operation: "request on \(waiter.topic)")))
            }
        }
    }

    /// Fails every waiting request with `error` (connection lost, client shut down).
    mutating func failAll(_ error: MQTTError, _ resumptions: inout Resumptions) {
        for waiter in waiters.values { resumptions.resume(waiter.continuation, with: .failure(error)) }
        waiters.removeAll()
        deadlines.removeAll()
    }

    private mutating func popFirstDeadline() {
        deadlines.swapAt(0, deadlines.count - 1)
        deadlines.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < deadlines.count && deadlines[left].instant < deadlines[smallest].instant { smallest = left }
            if right < deadlines.count && deadlines[right].instant < deadlines[smallest].instant { smallest = right }
            guard smallest != parent else { return }
            deadlines.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
