import Logging
import ServiceKit

/// The HTTP edge of Leitstand. It holds no state of its own: it authenticates, validates, and asks the
/// services behind it over MQTT.
let (runtime, settings) = ServiceRuntime.bootstrap(
    ServiceIdentity(name: "api-gateway"),
    usesDatabase: true,
    defaultHTTPPort: 8080,
    settings: GatewaySettings.read
)
runtime.logger.info("gateway configured", metadata: ["ingest.enabled": "\(settings.ingest != nil)"])
let router = runtime.makeRouter()
if let ingest = settings.ingest {
    IngestEndpoint(settings: ingest, mqtt: runtime.mqtt, logger: runtime.logger).register(on: router)
}
await runtime.run(router: router)
