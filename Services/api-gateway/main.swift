import DoorStore
import Foundation
import Logging
import MQTT
import ServiceKit

/// The HTTP edge of Leitstand. It holds no state of its own: it authenticates, validates, and asks the
/// services behind it over MQTT.
let (runtime, settings) = ServiceRuntime.bootstrap(
    ServiceIdentity(name: "api-gateway"),
    usesDatabase: true,
    defaultHTTPPort: 8080,
    // Audit entries relayed while the gateway restarts wait in the broker for this session.
    session: .persistent(expiry: .seconds(3_600)),
    settings: GatewaySettings.read
)
runtime.logger.info("gateway configured", metadata: ["ingest.enabled": "\(settings.ingest != nil)"])
let router = runtime.makeRouter()
guard let database = runtime.database, let audit = runtime.audit else { preconditionFailure("the gateway uses the database") }
let sessions = await MemberSessions.make(secret: settings.jwtSecret, lifetime: settings.sessionLifetime, secureCookie: settings.secureCookie)
var members = MemberDirectory(client: database, logger: runtime.logger)
members.databaseTimeout = settings.databaseTimeout
LoginEndpoint(members: members, sessions: sessions, clientAddresses: settings.clientAddresses, logger: runtime.logger).register(on: router)
DoorEndpoints(sessions: sessions, scheduler: SchedulerLink(mqtt: runtime.mqtt, timeout: settings.doorTimeout, seal: settings.rpcSeal, logger: runtime.logger)).register(on: router)
if let ingest = settings.ingest {
    IngestEndpoint(settings: ingest, mqtt: runtime.mqtt, logger: runtime.logger).register(on: router)
}
// Subscribed before the client connects (see AuditRecorder).
let auditRecords: MQTTSubscription
do {
    auditRecords = try await runtime.mqtt.subscribe(AuditRecorder.subscription, qos: .atLeastOnce)
} catch {
    runtime.logger.critical("could not prepare the audit subscription", metadata: ["error": "\(error)"])
    exit(1)
}
await runtime.run(router: router, services: [
    AuditRecorder(records: auditRecords, client: runtime.mqtt, audit: audit, databaseReady: { runtime.isDatabaseReady }, logger: runtime.logger)
])
