import Foundation

/// An audit entry from a service or door device without a database of its own, published on
/// `leitstand/audit/{writer}` with a response topic; the api-gateway appends it to the audit log (once per `id`) and
/// replies with an ``AuditReceipt``. The writer is taken from the topic, which the broker's ACL ties to the
/// account, never from the payload.
public struct AuditRecord: Codable, Sendable, Equatable {
    /// Makes a repeated delivery, or a record sent again because its receipt was late, one entry.
    public var id: UUID
    /// When the writer made it; the recorder puts its own time into the log.
    public var at: Date
    public var actor: String
    public var type: String
    public var subject: String
    /// A JSON object, as text.
    public var detail: String

    /// What a writer without a database has to record: what it did with a restart command. The recorder refuses any
    /// other type (a writer must not be able to say that an operator removed a member).
    public static let relayableTypes: Set<String> = ["service.restart_requested", "service.restart_rejected"]

    public init(id: UUID = UUID(), at: Date = Date(), actor: String, type: String, subject: String, detail: String) {
        self.id = id
        self.at = at
        self.actor = actor
        self.type = type
        self.subject = subject
        self.detail = detail
    }
}

/// The recorder's answer: the entry is in the audit log (`recorded`, also when it was there already), or why not.
public struct AuditReceipt: Codable, Sendable, Equatable {
    public var id: UUID
    public var recorded: Bool
    public var error: String?

    public init(id: UUID, recorded: Bool, error: String? = nil) {
        self.id = id
        self.recorded = recorded
        self.error = error
    }
}
