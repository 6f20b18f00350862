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
        configuration.will = .init(topic: identity.statusTopic, payload: identity.status(.offline, at: nil, reason: "connection lost"), retain: true)
        configuration.birth = {
            .init(topic: identity.statusTopic, payload: identity.status(.online, at: Date()), retain: true)
        }
    }

    public func run() async throws {
        client.start()
        try? await gracefulShutdown()
        if client.isConnected {
            let payload = identity.status(.offline, at: Date(), reason: exit.reason ?? "shut down")
            do {
                try await withTimeout(.seconds(2), operation: "publish offline status") {
                    try await client.publish(identity.statusTopic, payload: payload, retain: true)
                }
            } catch {
                logger.warning("could not publish the offline status", metadata: ["error": "\(error)"])
            }
        }
        await client.disconnect()
    }
}
