import Contracts
import Database
import Foundation
import Logging
import MQTT
import Metrics
import ServiceKit
import ServiceLifecycle

/// Records the audit entries of the services and door devices that have no database of their own (the
/// ingest-writer, the pi-door-clients): ``AuditRecord``s on `leitstand/audit/{account}`, taken through a shared
/// subscription in the gateway's persistent session (so entries sent while it restarts wait in the broker), each
/// appended once per id and answered with an ``AuditReceipt``. Who wrote an entry is the topic's last level, which
/// the broker's ACL ties to the writer's account; the payload cannot claim another writer.
struct AuditRecorder: Service {
    static let subscription = "$share/audit-recorder/\(Topic.allAudit)"
    /// An entry is a few hundred bytes; anything near this is not one.
    static let maximumRecordBytes = 65_536

    /// Made before the client connects, like the scheduler's confirms, so that entries the broker kept for this
    /// session, delivered right after the CONNACK, already have their subscription.
    let records: MQTTSubscription
    let client: MQTTClient
    let audit: AuditLog
    /// Whether the schema is current: records wait in the subscription (and then in the broker) until it is.
    let databaseReady: @Sendable () -> Bool
    let logger: Logger
    /// Records per writer: a few restarts' worth, never a flood into the audit log.
    private let perWriter = KeyedRateLimit(perSecond: 5, burst: 20)
    /// A log line per refusal reason and second at most.
    private let refusalLog = KeyedRateLimit(perSecond: 1, burst: 1)

    init(records: MQTTSubscription, client: MQTTClient, audit: AuditLog, databaseReady: @escaping @Sendable () -> Bool, logger: Logger) {
        self.records = records
        self.client = client
        self.audit = audit
        self.databaseReady = databaseReady
        self.logger = logger
    }

    func run() async throws {
        while !databaseReady() {
            guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: .milliseconds(100)) })) != nil else { return }
        }
        // A handful at a time: each is one insert.
        await records.cancelOnGracefulShutdown().forEach(atMost: 8) { message in await record(message) }
    }

    private func record(_ message: MQTTMessage) async {
        let writer = String(message.topic.split(separator: "/").last ?? "")
        guard message.payload.count <= Self.maximumRecordBytes, !writer.isEmpty, writer.utf8.count <= 128,
            let record = try? ContractCoding.decode(AuditRecord.self, from: message.payload)
        else {
            refuse("malformed", message)
            return
        }
        // A writer may say only what it has to say (its restarts), never what an operator did, and not flood.
        guard AuditRecord.relayableTypes.contains(record.type), record.subject.hasPrefix("service:") else {
            refuse("not_relayable", message)
            return answer(message, writer: writer, AuditReceipt(id: record.id, recorded: false, error: "not_relayable"))
        }
        guard perWriter.allows(writer) else {
            refuse("rate_limited", message)
            return
        }
        guard let detail = try? JSONSerialization.jsonObject(with: Data(record.detail.utf8)), detail is [String: Any] else {
            refuse("invalid_detail", message)
            return answer(message, writer: writer, AuditReceipt(id: record.id, recorded: false, error: "invalid_detail"))
        }
        do {
            // The time is the recorder's: a writer's clock (or its wish) does not place entries in the log.
            try await audit.appendOnce(
                eventID: record.id, at: Date(), service: writer, actor: String(record.actor.prefix(256)),
                type: record.type, subject: String(record.subject.prefix(256)), detail: record.detail
            )
            Counter(label: "leitstand_audit_relayed_total").increment()
            answer(message, writer: writer, AuditReceipt(id: record.id, recorded: true))
        } catch {
            // No receipt: the writer sends the record again, and it is recorded once.
            logger.error("relayed audit record not recorded", metadata: [
                "audit.writer": "\(writer)", "audit.type": "\(record.type)", "error": "\(String(reflecting: error).prefix(300))",
            ])
        }
    }

    private func refuse(_ reason: String, _ message: MQTTMessage) {
        Counter(label: "leitstand_audit_relayed_refused_total", dimensions: [("reason", reason)]).increment()
        if refusalLog.allows(reason) {
            logger.warning("audit record refused", metadata: ["reason": "\(reason)", "mqtt.topic": "\(message.topic.prefix(200))"])
        }
    }

    /// Receipts go to the writer's own reply topic only: a record naming another gets none.
    private func answer(_ message: MQTTMessage, writer: String, _ receipt: AuditReceipt) {
        guard message.responseTopic == Topic.replies(clientID: writer) else { return }
        do {
            try client.reply(to: message, payload: try ContractCoding.encode(receipt))
        } catch {
            logger.warning("audit receipt not sent", metadata: ["error": "\(String(describing: error).prefix(200))"])
        }
    }
}
