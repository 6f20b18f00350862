/// Runs `body`, and throws ``MQTTError/timeout(operation:)`` if it has not finished within `timeout`
/// (the body is cancelled then, and must react to cancellation).
@discardableResult
public func withTimeout<Value: Sendable>(
    _ timeout: Duration,
    operation: String,
    _ body: @escaping @Sendable () async throws -> Value
) async throws -> Value {
    try await withThrowingTaskGroup(of: Value.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw MQTTError.timeout(operation: operation)
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw MQTTError.timeout(operation: operation) }
        return first
    }
}
