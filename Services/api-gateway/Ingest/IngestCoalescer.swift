import Contracts
import Foundation
import Logging
import MQTT
import Synchronization

/// Sends ingest requests to the writer, coalescing: requests for a domain that arrive while its messages are under
/// way wait, and the next message carries all of them (each request's batch keeps its own ids and `receivedAt`).
/// One MQTT round trip, one writer task and one reply then serve many requests; at low load a request goes out
/// at once. Each request is answered from its message's reply: stored, or refused as a whole.
final class IngestCoalescer: Sendable {
    private struct Waiting {
        var batch: IngestBatch
        var continuation: CheckedContinuation<Void, any Error>
        /// The request's own timeout: it never waits longer for its reply, however long it queued.
        var deadline: ContinuousClock.Instant
    }

    private struct DomainQueue {
        var waiting: [Waiting] = []
        var messagesInFlight = 0
    }

    /// Messages under way per domain: two keep the writer's group commit fed while the next group gathers.
    static let messagesInFlightPerDomain = 2
    /// Requests are added to a message while it stays under this size (a single request may be bigger, up to
    /// ``IngestBatch/maximumMessageBytes``, and then goes alone).
    static let maximumMessageBytes = 1 << 20

    private let queues = Mutex<[String: DomainQueue]>([:])
    private let mqtt: MQTTClient
    private let timeout: Duration
    private let logger: Logger

    init(mqtt: MQTTClient, timeout: Duration, logger: Logger) {
        self.mqtt = mqtt
        self.timeout = timeout
        self.logger = logger
    }

    /// Returns when the writer has replied that the batch is on disk; fails at the latest after the timeout.
    func store(_ batch: IngestBatch, domain: String) async throws(IngestRefusal) {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let taken = queues.withLock { queues -> (group: [Waiting], expired: [Waiting])? in
                    queues[domain, default: DomainQueue()].waiting.append(Waiting(batch: batch, continuation: continuation, deadline: deadline))
                    guard queues[domain]!.messagesInFlight < Self.messagesInFlightPerDomain else { return nil }
                    queues[domain]!.messagesInFlight += 1
                    return Self.takeGroup(from: &queues[domain]!)
                }
                guard let taken else { return }
                Self.fail(taken.expired)
                Task { await self.send(taken.group, domain: domain) }
            }
        } catch let refusal as IngestRefusal {
            throw refusal
        } catch {
            throw .writerUnavailable
        }
    }

    /// Sends a group, answers its requests, and goes on with what gathered meanwhile.
    private func send(_ first: [Waiting], domain: String) async {
        var group = first
        while true {
            if let earliest = group.map(\.deadline).min() {
                // The message waits no longer than the most urgent of its requests may.
                let left = max(ContinuousClock.now.duration(to: earliest), .milliseconds(10))
                let outcome = await deliver(group.map(\.batch), domain: domain, timeout: left)
                for waiting in group { waiting.continuation.resume(with: outcome) }
            }
            let taken = queues.withLock { queues -> (group: [Waiting], expired: [Waiting]) in
                let taken = Self.takeGroup(from: &queues[domain, default: DomainQueue()])
                if taken.group.isEmpty {
                    queues[domain]!.messagesInFlight -= 1
                    if queues[domain]!.messagesInFlight == 0 { queues[domain] = nil }
                }
                return taken
            }
            Self.fail(taken.expired)
            guard !taken.group.isEmpty else { return }
            group = taken.group
        }
    }

    /// The waiting requests that fit into one message, in arrival order, and those whose deadline has passed while
    /// they waited (answered 503 without being sent).
    private static func takeGroup(from queue: inout DomainQueue) -> (group: [Waiting], expired: [Waiting]) {
        let now = ContinuousClock.now
        var expired: [Waiting] = []
        if queue.waiting.contains(where: { $0.deadline <= now }) {
            expired = queue.waiting.filter { $0.deadline <= now }
            queue.waiting.removeAll { $0.deadline <= now }
        }
        var bytes = 0
        var count = 0
        for waiting in queue.waiting {
            let size = waiting.batch.encodedSize
            if count > 0 && bytes + size > maximumMessageBytes { break }
            bytes += size
            count += 1
        }
        defer { queue.waiting.removeFirst(count) }
        return (Array(queue.waiting.prefix(count)), expired)
    }

    private static func fail(_ expired: [Waiting]) {
        for waiting in expired { waiting.continuation.resume(throwing: IngestRefusal.writerUnavailable) }
    }

    private func deliver(_ batches: [IngestBatch], domain: String, timeout: Duration) async -> Result<Void, any Error> {
        let events = batches.reduce(0) { $0 + $1.events.count }
        do {
            let message = try await mqtt.request(Topic.ingest(domain: domain), payload: IngestBatch.encode(batches), timeout: timeout)
            let reply = try ContractCoding.decode(IngestReply.self, from: message.payload)
            if reply.error == nil, reply.stored == events { return .success(()) }
            if reply.error == "writer_busy" { return .failure(IngestRefusal.busy) }
            logger.error("the ingest-writer refused a message", metadata: [
                "ingest.domain": "\(domain)", "ingest.requests": "\(batches.count)", "ingest.firstId": "\(batches[0].events[0].id)",
                "error": "\(reply.error ?? "stored \(reply.stored ?? 0) of \(events)")", "message": "\(reply.message ?? "-")",
            ])
        } catch {
            logger.warning("no durable acknowledgement from the ingest-writer", metadata: [
                "ingest.domain": "\(domain)", "ingest.requests": "\(batches.count)", "ingest.firstId": "\(batches[0].events[0].id)",
                "error": "\(error)",
            ])
        }
        return .failure(IngestRefusal.writerUnavailable)
    }
}
