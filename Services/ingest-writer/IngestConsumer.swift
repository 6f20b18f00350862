import Contracts
import Foundation
import Logging
import MQTT
import ServiceKit
import ServiceLifecycle

/// Takes batches from `leitstand/ingest/+` (as one member of the shared subscription `$share/ingest-writer/…`, so
/// that several writers split the stream), writes them, and replies on each request's response topic only after
/// the events are on disk. On SIGTERM it stops taking messages, lets the writes under way finish and answers them.
///
/// A message carries the gateway's deadline (MQTT user property `deadline`). One that arrives late, or whose
/// deadline passes while it waits for the disk, is not written and not answered: the client was told 503, and its
/// retry must not find a second copy (events without an `Idempotency-Key` get a new id each time).
struct IngestConsumer: Service {
    static let filter = "$share/ingest-writer/\(Topic.allIngest)"
    /// Messages handled at once; the gateway keeps two per domain under way, so this is room for many domains.
    static let maximumConcurrentMessages = 256

    let mqtt: MQTTClient
    let journal: IngestJournal
    let metrics: WriterMetrics
    let logger: Logger

    func run() async throws {
        try await journal.open()
        let subscription = try await mqtt.subscribe(Self.filter, qos: .atLeastOnce)
        await subscription.cancelOnGracefulShutdown().forEach(atMost: Self.maximumConcurrentMessages) { message in await handle(message) }
        logger.info("ingest stopped taking events; writes under way are answered")
    }

    private func handle(_ message: MQTTMessage) async {
        let reply: IngestReply
        let domain = message.topic.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        if !IngestDomain.isValid(domain) {
            metrics.rejected("invalid_domain")
            logger.error("ingest message on a topic with an invalid domain", metadata: ["mqtt.topic": "\(message.topic)"])
            reply = .refused("invalid_domain", message: "the domain must match ^[a-z0-9-]{1,64}$")
        } else if let late = Self.lateness(of: message) {
            metrics.rejected(late)
            logger.warning("ingest message dropped: its asker has given up", metadata: ["ingest.domain": "\(domain)", "reason": "\(late)"])
            return
        } else {
            do {
                let batches = try IngestBatch.decodeAll(message.payload)
                reply = await journal.append(batches, domain: domain, deadline: message.deadline ?? Date())
                if reply == DomainJournal.late {
                    metrics.rejected("late")
                    logger.warning("ingest message not written: its deadline passed while it waited", metadata: ["ingest.domain": "\(domain)"])
                    return
                }
                logger.debug("ingest message answered", metadata: [
                    "ingest.domain": "\(domain)", "ingest.requests": "\(batches.count)", "ingest.stored": "\(reply.stored ?? 0)",
                    "ingest.firstId": "\(batches.first?.events.first?.id ?? "-")", "ingest.error": "\(reply.error ?? "-")",
                ])
            } catch {
                metrics.rejected("invalid_batch")
                logger.error("malformed ingest message dropped", metadata: ["ingest.domain": "\(domain)", "error": "\(error)"])
                reply = .refused("invalid_batch", message: "\(error)")
            }
        }
        do {
            try mqtt.reply(to: message, payload: try ContractCoding.encode(reply))
        } catch {
            // The events are on disk; the gateway answers 503 and the client's retry is found as a duplicate.
            logger.warning("could not reply to an ingest request", metadata: ["ingest.domain": "\(domain)", "error": "\(error)"])
        }
    }

    /// `late` or `no_deadline` for a message that must not be written, nil for one that may.
    private static func lateness(of message: MQTTMessage) -> String? {
        guard let deadline = message.deadline else { return "no_deadline" }
        return deadline <= Date() ? "late" : nil
    }
}
