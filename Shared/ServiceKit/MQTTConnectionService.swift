import Contracts
import Foundation
import Logging
import MQTT
import ServiceLifecycle

/// Keeps the service's broker connection for the life of the process. The retained status topic says `online`
/// on every (re)connect (the birth message) and `offline` when the broker loses us (the last will) or when we
/// shut down on purpose (published here, with the reason, before the clean DISCONNECT).
public struct MQTTConnectionService: Service {
    let client: MQTTClient
    let identity: ServiceIdentity
    let exit: ProcessExit
    let logger: Logger

    public init(client: MQTTClient, identity: ServiceIdentity, exit: ProcessExit, logger: Logger) {
        self.client = client
        self.identity = identity
        self.exit = exit
        self.logger = logger
    }

    /// The will and birth messages of a service, to be put in its ``MQTTConfiguration`` before the client is made.
    public static func announce(_ identity: ServiceIdentity, in configuration: inout MQTTConfiguration) {
        let topic = Topic.serviceStatus(identity.name)
        let offline = ServiceStatus(state: .offline, service: identity.name, version: identity.version, reason: "connection lost")
        configuration.will = .init(topic: topic, payload: (try? ContractCoding.encode(offline)) ?? Data(), retain: true)
        configuration.birth = {
            let online = ServiceStatus(state: .online, service: identity.name, version: identity.version, at: Date())
            return .init(topic: topic, payload: (try? ContractCoding.encode(online)) ?? Data(), retain: true)
        }
    }

    public func run() async throws {
        client.start()
        try? await gracefulShutdown()
        if client.isConnected {
            let offline = ServiceStatus(
                state: .offline,
                service: identity.name,
                version: identity.version,
                at: Date(),
                reason: exit.reason ?? "shut down"
            )
            do {
                let payload = try ContractCoding.encode(offline)
                try await withTimeout(.seconds(2), operation: "publish offline status") {
                    try await client.publish(Topic.serviceStatus(identity.name), payload: payload, retain: true)
                }
            } catch {
                logger.warning("could not publish the offline status", metadata: ["error": "\(error)"])
            }
        }
        await client.disconnect()
    }
}
