import NIOCore

/// Continuations to resume, and stream elements to yield, once the lock under which they were found is released.
///
/// Resuming under a lock that a cancellation handler also takes deadlocks: the Swift runtime holds a task's
/// status lock while it runs the task's cancellation handler (which then waits for our lock), and resuming that
/// task's continuation needs the same status lock (while we hold ours). This was observed, not imagined: a
/// benchmark cancelling replies in flight hung with exactly these two stacks. So every locked section here only
/// collects what to do, and ``run()`` does it after the lock is released.
struct Resumptions {
    private var actions: [@Sendable () -> Void] = []

    init() {}

    mutating func resume<Value: Sendable>(_ continuation: CheckedContinuation<Value, any Error>, with result: Result<Value, any Error>) {
        actions.append { continuation.resume(with: result) }
    }

    mutating func resume(_ continuation: CheckedContinuation<Void, any Error>) {
        resume(continuation, with: .success(()))
    }

    mutating func yield(_ message: MQTTMessage, to source: SubscriptionBuffer.Sequence.Source) {
        actions.append { _ = source.yield(message) }
    }

    mutating func finish(_ source: SubscriptionBuffer.Sequence.Source) {
        actions.append { source.finish() }
    }

    func run() {
        for action in actions { action() }
    }
}
