import Contracts
import DoorStore
import Foundation
import Logging
import MQTT
import ServiceKit

/// Owns door jobs: decides opens (locks and limits in Postgres), publishes signed jobs to the area's device,
/// records confirms, expires jobs on time, and tracks which devices are online.
let (runtime, settings) = ServiceRuntime.bootstrap(
    ServiceIdentity(name: "door-scheduler"),
    usesDatabase: true,
    defaultHTTPPort: 8083,
    // Confirms sent while the scheduler restarts wait in the broker for this session.
    session: .persistent(expiry: .seconds(3_600)),
    settings: SchedulerSettings.read
)
guard let database = runtime.database else { preconditionFailure("the scheduler uses the database") }
let devices = DeviceRegistry(client: database, sealer: settings.sealer, logger: runtime.logger)
let ledger = DoorJobLedger(client: database, devices: devices, policy: settings.policy, service: runtime.identity.name, logger: runtime.logger)
// Subscribed before the client connects: what the broker delivers at once after the CONNACK (confirms kept in
// this persistent session, retained statuses) must find its subscription.
let confirms: MQTTSubscription
let statuses: MQTTSubscription
do {
    confirms = try await runtime.mqtt.subscribe(ConfirmConsumer.subscription, qos: .atLeastOnce)
    statuses = try await runtime.mqtt.subscribe(Topic.allDeviceStatuses, qos: .atLeastOnce)
} catch {
    runtime.logger.critical("could not prepare the subscriptions", metadata: ["error": "\(error)"])
    exit(1)
}
let presence = DevicePresence(statuses: statuses, logger: runtime.logger)
let dispatches = DispatchRecorder(ledger: ledger, logger: runtime.logger)
// Services stop in reverse order: the recorder after the requests that feed it.
await runtime.run(router: runtime.makeRouter(), services: [
    presence,
    dispatches,
    DoorRequestService(client: runtime.mqtt, seal: settings.rpcSeal, ledger: ledger, devices: devices, presence: presence, dispatches: dispatches, logger: runtime.logger),
    ConfirmConsumer(confirms: confirms, client: runtime.mqtt, ledger: ledger, devices: devices, logger: runtime.logger),
    JobTimers(ledger: ledger, retentionDays: settings.retentionDays, logger: runtime.logger),
])
