import Contracts
import Foundation

/// Which service this process is, as it appears in topics, logs, metrics and audit entries, and where it
/// announces itself: a server service on `leitstand/svc/{name}/…`, a door device on `leitstand/device/{id}/…`.
public struct ServiceIdentity: Sendable {
    /// The release all services of this build share.
    public static let buildVersion = "0.1.0"

    public let name: String
    public let version: String
    /// The retained status topic (its last will says `offline`).
    public let statusTopic: String
    /// Where the restart command for this process arrives.
    public let restartTopic: String
    private let statusPayload: @Sendable (_ state: ServiceStatus.State, _ at: Date?, _ reason: String?) -> Data

    /// A server service: ``ServiceStatus`` on `leitstand/svc/{name}/status`.
    public init(name: String, version: String = ServiceIdentity.buildVersion) {
        self.init(name: name, version: version, statusTopic: Topic.serviceStatus(name), restartTopic: Topic.restartCommand(name)) { state, at, reason in
            (try? ContractCoding.encode(ServiceStatus(state: state, service: name, version: version, at: at, reason: reason))) ?? Data()
        }
    }

    public init(
        name: String,
        version: String = ServiceIdentity.buildVersion,
        statusTopic: String,
        restartTopic: String,
        statusPayload: @escaping @Sendable (_ state: ServiceStatus.State, _ at: Date?, _ reason: String?) -> Data
    ) {
        self.name = name
        self.version = version
        self.statusTopic = statusTopic
        self.restartTopic = restartTopic
        self.statusPayload = statusPayload
    }

    /// The retained status payload; `at` is nil in the last will, which the broker sends at an unknown later time.
    public func status(_ state: ServiceStatus.State, at: Date?, reason: String? = nil) -> Data {
        statusPayload(state, at, reason)
    }
}
