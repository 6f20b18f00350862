import DoorStore
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
guard let database = runtime.database else { preconditionFailure("the gateway uses the database") }
let sessions = await MemberSessions.make(secret: settings.jwtSecret, lifetime: settings.sessionLifetime, secureCookie: settings.secureCookie)
LoginEndpoint(members: MemberDirectory(client: database, logger: runtime.logger), sessions: sessions, logger: runtime.logger).register(on: router)
DoorEndpoints(sessions: sessions, scheduler: SchedulerLink(mqtt: runtime.mqtt, timeout: settings.doorTimeout, logger: runtime.logger)).register(on: router)
if let ingest = settings.ingest {
    IngestEndpoint(settings: ingest, mqtt: runtime.mqtt, logger: runtime.logger).register(on: router)
}
await runtime.run(router: router)
