/// One link a service depends on (the broker, the database), as `/health` reports it.
public struct HealthCheck: Sendable {
    public let name: String
    public let isUp: @Sendable () async -> Bool

    public init(name: String, isUp: @escaping @Sendable () async -> Bool) {
        self.name = name
        self.isUp = isUp
    }
}

/// The body of `GET /health`.
public struct HealthReport: Codable, Sendable, Equatable {
    public var status: String
    public var service: String
    public var version: String
    /// Each link by name: `up` or `down`.
    public var checks: [String: String]

    public var isHealthy: Bool { status == "ok" }
}
