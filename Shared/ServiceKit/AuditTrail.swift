import Contracts
import Database
import Foundation
import MQTT

/// Where a service writes its audit entries: into its own database, or, for a service or door device without one,
/// over MQTT to the api-gateway, which records them (``AuditRecord`` on `leitstand/audit/{account}`).
public enum AuditTrail: Sendable {
    case database(AuditLog, service: String)
    case relayed(MQTTClient)

    /// How long writing an entry into the service's own database may take.
    public static let databaseTimeout = Duration.seconds(3)
    /// How long a relayed entry waits for the recorder's receipt. It stays in the broker (the recorder's session)
    /// for ``relayKeptInBroker`` if no receipt came in time, and is recorded when the recorder is back.
    public static let relayTimeout = Duration.seconds(3)
    public static let relayKeptInBroker = Duration.seconds(3_600)

    /// Appends an entry; returns once it is recorded, or throws (the caller logs it: an audit failure must not stop
    /// what is being audited, e.g. a restart).
    public func append(actor: String, type: String, subject: String, detail: some Encodable & Sendable) async throws {
        switch self {
        case .database(let log, let service):
            try await withTimeout(Self.databaseTimeout, operation: "audit \(type)") {
                try await log.append(service: service, actor: actor, type: type, subject: subject, detail: detail)
            }
        case .relayed(let client):
            let json = String(decoding: try ContractCoding.encode(detail), as: UTF8.self)
            let record = AuditRecord(actor: actor, type: type, subject: subject, detail: json)
            let payload = try ContractCoding.encode(record)
            // The same record again until the recorder answers (it records one entry per id): a gateway that is
            // starting, migrating or away for a moment does not cost the entry.
            let giveUp = ContinuousClock.now + Self.relayPatience
            while true {
                do {
                    let reply = try await client.request(
                        Topic.audit(client.configuration.clientID), payload: payload, timeout: Self.relayTimeout, messageExpiry: Self.relayKeptInBroker
                    )
                    let receipt = try ContractCoding.decode(AuditReceipt.self, from: reply.payload)
                    guard receipt.id == record.id, receipt.recorded else { throw AuditRelayError(reason: receipt.error ?? "not recorded") }
                    return
                } catch is MQTTError where ContinuousClock.now < giveUp {
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
        }
    }

    /// How long a relayed entry is offered to the recorder before the writer gives up (and logs it).
    public static let relayPatience = Duration.seconds(10)
}

/// The recorder refused a relayed audit entry.
public struct AuditRelayError: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { "the audit recorder refused the entry: \(reason)" }
}
