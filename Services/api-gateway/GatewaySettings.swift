import DoorCrypto
import ServiceKit

/// The api-gateway's own configuration, checked at start so that a gateway never runs half-configured.
struct GatewaySettings: Sendable {
    /// Signs member sessions (HS256); at least 32 characters.
    var jwtSecret: String
    var sessionLifetime: Duration
    /// Mark the session cookie `Secure` (only sent over HTTPS); off for the local dev stack on plain HTTP.
    var secureCookie: Bool
    /// How long a door request waits for the door-scheduler's answer.
    var doorTimeout: Duration
    /// How long a login waits for the database before it answers 503 `login_unavailable`.
    var databaseTimeout: Duration
    /// Seals the requests to the door-scheduler (`LEITSTAND_RPC_KEY`, the scheduler holds the same).
    var rpcSeal: RPCSeal
    /// Reverse proxies whose `X-Forwarded-For` names the client (`LEITSTAND_TRUSTED_PROXIES`; loopback by default).
    var clientAddresses: ClientAddresses
    var ingest: IngestSettings?

    struct IngestSettings: Sendable {
        /// What ingest clients present, at least 16 characters; compared in constant time.
        var token: String
        var maximumBytes: Int
        /// How long a request waits for the writer's durable acknowledgement before answering 503.
        var timeout: Duration
        /// Requests waiting for the writer at once; past this the gateway answers 503 `writer_busy`.
        var maximumInFlight: Int
    }

    static func read(_ reader: inout ConfigurationReader) -> GatewaySettings {
        var settings = GatewaySettings(
            jwtSecret: reader.secret("LEITSTAND_JWT_SECRET", minimumLength: 32) ?? "",
            sessionLifetime: .seconds(reader.integer("LEITSTAND_SESSION_TTL_S", default: 43_200, range: 60...2_592_000)),
            secureCookie: reader.flag("LEITSTAND_COOKIE_SECURE", default: true),
            doorTimeout: .milliseconds(reader.integer("LEITSTAND_DOOR_TIMEOUT_MS", default: 3_000, range: 10...60_000)),
            databaseTimeout: .milliseconds(reader.integer("LEITSTAND_DATABASE_TIMEOUT_MS", default: 2_000, range: 10...60_000)),
            rpcSeal: reader.secret("LEITSTAND_RPC_KEY", minimumLength: 32).flatMap(RPCSeal.init(keyText:)) ?? RPCSeal.placeholder,
            clientAddresses: ClientAddresses(trustedProxies: [])
        )
        if let addresses = ClientAddresses.parse(reader.optional("LEITSTAND_TRUSTED_PROXIES")) {
            settings.clientAddresses = addresses
        } else {
            reader.report("LEITSTAND_TRUSTED_PROXIES", "must be comma-separated IP addresses or CIDR ranges (e.g. 127.0.0.1,10.0.0.0/8), or none")
        }
        guard reader.flag("LEITSTAND_INGEST_ENABLED", default: true) else { return settings }
        var token: String?
        if reader.optional("LEITSTAND_TOKEN") == nil {
            reader.report("LEITSTAND_TOKEN", "is not set (set it, or LEITSTAND_INGEST_ENABLED=false to run without ingest)")
        } else {
            // The token alone lets a client write into every ingest domain: at least as long as a fair password.
            token = reader.secret("LEITSTAND_TOKEN", minimumLength: 16)
        }
        let ingest = IngestSettings(
            token: token ?? "",
            // At most 1 MiB: with its ids a message must fit the broker's max_packet_size (2 MiB).
            maximumBytes: reader.integer("LEITSTAND_INGEST_MAX_BYTES", default: 1 << 20, range: 1...(1 << 20)),
            timeout: .milliseconds(reader.integer("LEITSTAND_INGEST_TIMEOUT_MS", default: 3_000, range: 10...60_000)),
            maximumInFlight: reader.integer("LEITSTAND_INGEST_MAX_INFLIGHT", default: 4_096, range: 1...1_000_000)
        )
        settings.ingest = ingest
        return settings
    }
}
