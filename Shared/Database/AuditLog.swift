import Foundation
import Logging
import PostgresNIO

/// One entry of the audit log: who did what to what, from which service, with details as JSON.
public struct AuditEntry: Sendable, Equatable {
    public var id: Int64?
    public var at: Date?
    public var service: String
    public var actor: String
    public var type: String
    public var subject: String
    /// A JSON object, stored as `jsonb`.
    public var detail: String

    public init(id: Int64? = nil, at: Date? = nil, service: String, actor: String, type: String, subject: String, detail: String = "{}") {
        self.id = id
        self.at = at
        self.service = service
        self.actor = actor
        self.type = type
        self.subject = subject
        self.detail = detail
    }
}

/// Appends to and reads the `audit_log` table. Entries are never updated; housekeeping of other tables keeps them.
public struct AuditLog: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Appends an entry with a detail object encoded from `detail`; returns its id.
    @discardableResult
    public func append(
        service: String,
        actor: String,
        type: String,
        subject: String,
        detail: some Encodable & Sendable
    ) async throws -> Int64 {
        let json = String(decoding: try JSONEncoder.audit.encode(detail), as: UTF8.self)
        return try await append(AuditEntry(service: service, actor: actor, type: type, subject: subject, detail: json))
    }

    /// Appends an entry whose `detail` is already JSON text; returns its id.
    @discardableResult
    public func append(_ entry: AuditEntry) async throws -> Int64 {
        let rows = try await client.query(
            """
            INSERT INTO audit_log (service, actor, type, subject, detail)
            VALUES (\(entry.service), \(entry.actor), \(entry.type), \(entry.subject), \(entry.detail)::jsonb)
            RETURNING id
            """,
            logger: logger
        )
        for try await id in rows.decode(Int64.self) { return id }
        throw DatabaseError.noRowReturned("INSERT INTO audit_log")
    }

    /// Appends an entry that another process sent (``AuditRecord`` over MQTT), once per `eventID`: a redelivery, or
    /// the same record sent again, changes nothing. `detail` must be a JSON object.
    public func appendOnce(eventID: UUID, at: Date, service: String, actor: String, type: String, subject: String, detail: String) async throws {
        try await client.query(
            """
            INSERT INTO audit_log (event_id, at, service, actor, type, subject, detail)
            SELECT \(eventID), \(at), \(service), \(actor), \(type), \(subject), d FROM (SELECT \(detail)::jsonb AS d) parsed
            WHERE jsonb_typeof(d) = 'object'
            ON CONFLICT (event_id) WHERE event_id IS NOT NULL DO NOTHING
            """,
            logger: logger
        )
    }

    /// Appends an entry inside the caller's transaction, so that the change and its audit entry commit together.
    public static func append(
        on connection: PostgresConnection,
        logger: Logger,
        service: String,
        actor: String,
        type: String,
        subject: String,
        detail: some Encodable & Sendable
    ) async throws {
        let json = String(decoding: try JSONEncoder.audit.encode(detail), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO audit_log (service, actor, type, subject, detail)
            VALUES (\(service), \(actor), \(type), \(subject), \(json)::jsonb)
            """,
            logger: logger
        )
    }

    /// The newest entries first, optionally only those of one subject or type.
    public func recent(subject: String? = nil, type: String? = nil, limit: Int = 100) async throws -> [AuditEntry] {
        let rows = try await client.query(
            """
            SELECT id, at, service, actor, type, subject, detail::text FROM audit_log
            WHERE (\(subject)::text IS NULL OR subject = \(subject)) AND (\(type)::text IS NULL OR type = \(type))
            ORDER BY id DESC LIMIT \(limit)
            """,
            logger: logger
        )
        var entries: [AuditEntry] = []
        for try await (id, at, service, actor, type, subject, detail) in rows.decode((Int64, Date, String, String, String, String, String).self) {
            entries.append(AuditEntry(id: id, at: at, service: service, actor: actor, type: type, subject: subject, detail: detail))
        }
        return entries
    }
}

extension JSONEncoder {
    static let audit: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()
}
