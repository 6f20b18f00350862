import ServiceKit

/// The api-gateway's own configuration, checked at start so that a gateway never runs half-configured.
struct GatewaySettings: Sendable {
    /// Signs member sessions (HS256); at least 32 characters.
    var jwtSecret: String?
    var ingest: IngestSettings?

    struct IngestSettings: Sendable {
        /// What ingest clients present; compared in constant time.
        var token: String
        var maximumBytes: Int
        /// How long a request waits for the writer's durable acknowledgement before answering 503.
        var timeout: Duration
        /// Requests waiting for the writer at once; past this the gateway answers 503 `writer_busy`.
        var maximumInFlight: Int
    }

    static func read(_ reader: inout ConfigurationReader) -> GatewaySettings {
        let jwtSecret = reader.secret("LEITSTAND_JWT_SECRET", minimumLength: 32)
        guard reader.flag("LEITSTAND_INGEST_ENABLED", default: true) else {
            return GatewaySettings(jwtSecret: jwtSecret, ingest: nil)
        }
        let token = reader.optional("LEITSTAND_TOKEN")
        if token == nil {
            reader.report("LEITSTAND_TOKEN", "is not set (set it, or LEITSTAND_INGEST_ENABLED=false to run without ingest)")
        }
        let ingest = IngestSettings(
            token: token ?? "",
            // At most 1 MiB: with its ids a message must fit the broker's max_packet_size (2 MiB).
            maximumBytes: reader.integer("LEITSTAND_INGEST_MAX_BYTES", default: 1 << 20, range: 1...(1 << 20)),
            timeout: .milliseconds(reader.integer("LEITSTAND_INGEST_TIMEOUT_MS", default: 3_000, range: 10...60_000)),
            maximumInFlight: reader.integer("LEITSTAND_INGEST_MAX_INFLIGHT", default: 4_096, range: 1...1_000_000)
        )
        return GatewaySettings(jwtSecret: jwtSecret, ingest: ingest)
    }
}
