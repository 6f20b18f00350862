import MQTT
import Synchronization

/// Gathers what a subscription delivers, in the background, so that a test can wait for a count with a deadline.
public final class MessageCollector: Sendable {
    private let received = Mutex<[MQTTMessage]>([])
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)

    public init(_ subscription: MQTTSubscription) {
        let reader = Task { [weak self] in
            for await message in subscription { self?.received.withLock { $0.append(message) } }
        }
        task.withLock { $0 = reader }
    }

    public var messages: [MQTTMessage] { received.withLock { $0 } }

    /// Waits until at least `count` messages arrived and returns them all.
    @discardableResult
    public func waitFor(_ count: Int, timeout: Duration = .seconds(10)) async throws -> [MQTTMessage] {
        try await waitUntil("\(count) messages arrived (have \(messages.count))", timeout: timeout, interval: .milliseconds(10)) {
            messages.count >= count
        }
        return messages
    }

    public func stop() { task.withLock { $0?.cancel() } }
}
