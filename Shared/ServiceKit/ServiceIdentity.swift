/// Which service this process is, as it appears in topics, logs, metrics and audit entries.
public struct ServiceIdentity: Sendable {
    /// The release all services of this build share.
    public static let buildVersion = "0.1.0"

    public let name: String
    public let version: String

    public init(name: String, version: String = ServiceIdentity.buildVersion) {
        self.name = name
        self.version = version
    }
}
