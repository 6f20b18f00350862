import ServiceKit

/// The api-gateway's own configuration, checked at start so that a gateway never runs half-configured.
struct GatewaySettings: Sendable {
    /// Signs member sessions (HS256); at least 32 characters.
    var jwtSecret: String?
    /// The ingest token; nil only when ingest is disabled.
    var ingestToken: String?
    var ingestEnabled: Bool

    static func read(_ reader: inout ConfigurationReader) -> GatewaySettings {
        let jwtSecret = reader.secret("LEITSTAND_JWT_SECRET", minimumLength: 32)
        let ingestEnabled = reader.flag("LEITSTAND_INGEST_ENABLED", default: true)
        var ingestToken: String?
        if ingestEnabled {
            ingestToken = reader.optional("LEITSTAND_TOKEN")
            if ingestToken == nil {
                reader.report("LEITSTAND_TOKEN", "is not set (set it, or LEITSTAND_INGEST_ENABLED=false to run without ingest)")
            }
        }
        return GatewaySettings(jwtSecret: jwtSecret, ingestToken: ingestToken, ingestEnabled: ingestEnabled)
    }
}
