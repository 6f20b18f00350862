import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MQTT
import NIOCore
import Primitives
import ServiceKit
import Synchronization

/// `POST /ingest/{domain}`: checks the token, the domain, the size, the body's framing and the JSON, gives every event an id, hands the
/// events to the ingest-writer over MQTT (``IngestCoalescer``) and answers 200 only when the writer has replied that
/// they are fsync'd.
/// Anything else is a clear error; nothing waits without bound.
final class IngestEndpoint: Sendable {
    private let settings: GatewaySettings.IngestSettings
    private let coalescer: IngestCoalescer
    private let metrics = IngestRequestMetrics()
    private let inFlight = Atomic<Int>(0)
    private let logger: Logger
    private static let authTokenHeader = HTTPField.Name("X-Auth-Token")!
    private static let idempotencyKeyHeader = HTTPField.Name("Idempotency-Key")!

    init(settings: GatewaySettings.IngestSettings, mqtt: MQTTClient, logger: Logger) {
        self.settings = settings
        self.coalescer = IngestCoalescer(mqtt: mqtt, timeout: settings.timeout, logger: logger)
        self.logger = logger
    }

    func register(on router: Router<some RequestContext>) {
        router.post("ingest/:domain") { request, context in
            await self.ingest(request, domain: context.parameters.get("domain") ?? "")
        }
    }

    private func ingest(_ request: Request, domain: String) async -> Response {
        do {
            let batch = try await accept(request, domain: domain)
            guard !batch.events.isEmpty else { return try JSONResponse.make(.ok, IngestStored(count: 0)) }
            return try await store(batch, domain: domain)
        } catch let refusal as IngestRefusal {
            metrics.rejected(refusal.code)
            return refusal.response
        } catch {
            logger.error("ingest failed unexpectedly", metadata: ["ingest.domain": "\(domain)", "error": "\(error)"])
            return IngestRefusal(.internalServerError, "internal_error", "unexpected error").response
        }
    }

    /// Everything the gateway checks before the writer sees the request, in the order a client fixes them.
    private func accept(_ request: Request, domain: String) async throws(IngestRefusal) -> IngestBatch {
        let presented = request.headers[Self.authTokenHeader].map { Substring($0) } ?? request.bearerToken
        guard let presented, ConstantTime.equals(presented, settings.token) else {
            throw IngestRefusal(.unauthorized, "unauthorized", "send the ingest token as Authorization: Bearer <token> or X-Auth-Token")
        }
        guard IngestDomain.isValid(domain) else {
            throw IngestRefusal(.badRequest, "invalid_domain", "the domain must match ^[a-z0-9-]{1,64}$")
        }
        let key = request.headers[Self.idempotencyKeyHeader]
        if let key, !IngestEventID.isValidKey(key) {
            throw IngestRefusal(
                .badRequest, "invalid_idempotency_key",
                "Idempotency-Key must be 1–\(IngestEventID.maximumKeyLength) visible ASCII characters without \", \\ or # (a batch's events get <key>#<index>)"
            )
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > settings.maximumBytes { throw bodyTooLarge }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: settings.maximumBytes)
        } catch is NIOTooManyBytesError {
            throw bodyTooLarge
        } catch {
            // The body's framing is broken (a chunk size that is no hex number, chunk data longer than its size):
            // NIO's parser fails the body stream. Every such error was answered 413 before (issue 9).
            throw IngestRefusal(.badRequest, "invalid_body", "the request body is malformed: \(error)")
        }
        let json: CompactJSON
        do {
            json = try CompactJSON(parsing: body.readableBytesView)
        } catch {
            throw IngestRefusal(.badRequest, "invalid_json", "the body is not one JSON value: \(error)")
        }
        let receivedAt = IngestTimestamp.format(Date())
        let base = key ?? UUID().uuidString.lowercased()
        guard json.isArrayOfObjects, let elements = json.arrayElements else {
            return IngestBatch(receivedAt: receivedAt, events: [.init(id: base, json: json.bytes)])
        }
        guard elements.count <= IngestBatch.maximumEvents else {
            throw IngestRefusal(.contentTooLarge, "payload_too_large", "a batch holds at most \(IngestBatch.maximumEvents) events")
        }
        let events = elements.enumerated().map { index, range in
            IngestBatch.Event(id: IngestEventID.batchElement(base, index: index), json: Array(json.bytes[range]))
        }
        let batch = IngestBatch(receivedAt: receivedAt, events: events)
        guard batch.encodedSize <= IngestBatch.maximumMessageBytes else {
            throw IngestRefusal(.contentTooLarge, "payload_too_large", "the batch with its event ids is larger than a message may be: send fewer events per request, or a shorter Idempotency-Key")
        }
        return batch
    }

    private var bodyTooLarge: IngestRefusal {
        IngestRefusal(.contentTooLarge, "payload_too_large", "the body is larger than \(settings.maximumBytes) bytes")
    }

    private func store(_ batch: IngestBatch, domain: String) async throws -> Response {
        guard inFlight.add(1, ordering: .relaxed).newValue <= settings.maximumInFlight else {
            inFlight.subtract(1, ordering: .relaxed)
            throw IngestRefusal.busy
        }
        defer { inFlight.subtract(1, ordering: .relaxed) }
        try await coalescer.store(batch, domain: domain)
        metrics.stored(events: batch.events.count)
        return try JSONResponse.make(.ok, IngestStored(count: batch.events.count))
    }
}
