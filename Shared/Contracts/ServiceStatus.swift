import Foundation

/// The retained payload of `leitstand/svc/{service}/status`.
public struct ServiceStatus: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable { case online, offline }

    public var state: State
    public var service: String
    public var version: String
    /// When the service published it; nil in the last will, which the broker sends at an unknown later time.
    public var at: Date?
    /// Why a service went offline on purpose (e.g. "restart requested"); nil otherwise.
    public var reason: String?

    public init(state: State, service: String, version: String, at: Date? = nil, reason: String? = nil) {
        self.state = state
        self.service = service
        self.version = version
        self.at = at
        self.reason = reason
    }
}
