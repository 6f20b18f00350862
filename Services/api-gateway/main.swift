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
runtime.logger.info("gateway configured", metadata: ["ingest.enabled": "\(settings.ingestEnabled)"])
let router = runtime.makeRouter()
await runtime.run(router: router)
