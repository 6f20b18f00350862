import Contracts
import Database
import Foundation
import Logging
import MQTT
import ServiceLifecycle

/// Listens on `leitstand/svc/{service}/cmd/restart`. A valid command is audited, waits its delay, and then
/// ends this service's run, which shuts the whole group down gracefully (draining in-flight work); the process
/// exits with ``ProcessExit/restartRequested`` for its supervisor to start it again.
/// Commands are never taken from the retained store: a retained restart would restart the service forever. The
/// subscription asks for the retain flag as published (MQTT clears it on live delivery otherwise), so a retained
/// command sent while the service is connected is recognised and refused too.
/// Every command, accepted or refused, is audited: in the service's database, or relayed to the api-gateway.
public struct RestartCommandService: Service {
    let client: MQTTClient
    let identity: ServiceIdentity
    let audit: AuditTrail
    let exit: ProcessExit
    let logger: Logger

    public init(client: MQTTClient, identity: ServiceIdentity, audit: AuditTrail, exit: ProcessExit, logger: Logger) {
        self.client = client
        self.identity = identity
        self.audit = audit
        self.exit = exit
        self.logger = logger
    }

    public func run() async throws {
        let topic = identity.restartTopic
        let commands = try await client.subscribe(topic, qos: .atLeastOnce, options: [.neverSendRetained, .retainAsPublished])
        for await message in commands.cancelOnGracefulShutdown() {
            guard let command = await accept(message) else { continue }
            if command.delaySeconds > 0 {
                logger.notice("restarting after the requested delay", metadata: ["delaySeconds": "\(command.delaySeconds)"])
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(command.delaySeconds)) }
                } catch {
                    return  // SIGTERM came first: the group is shutting down anyway.
                }
            }
            exit.request(code: ProcessExit.restartRequested, reason: "restart requested by \(command.requestedBy): \(command.reason)")
            logger.notice("restart requested, draining", metadata: ["requestedBy": "\(command.requestedBy)", "reason": "\(command.reason)"])
            return
        }
    }

    /// The command if it is acceptable; otherwise nil, after logging and auditing why it was refused.
    private func accept(_ message: MQTTMessage) async -> RestartCommand? {
        if message.retain {
            logger.warning("ignored a retained restart command", metadata: ["mqtt.topic": "\(message.topic)"])
            await record(type: "service.restart_rejected", actor: "unknown", detail: Rejection(error: "retained"))
            return nil
        }
        let command: RestartCommand
        do {
            command = try ContractCoding.decode(RestartCommand.self, from: message.payload)
        } catch {
            logger.warning("ignored a malformed restart command", metadata: ["error": "\(error)"])
            await record(type: "service.restart_rejected", actor: "unknown", detail: Rejection(error: "invalid_json"))
            return nil
        }
        if let problem = command.validationError {
            // Who asked, as far as it can be told: a name that is itself the problem is not repeated.
            let actor = command.hasUsableRequester ? command.requestedBy : "unknown"
            logger.warning("ignored an invalid restart command", metadata: ["error": "\(problem)", "requestedBy": "\(actor)"])
            await record(type: "service.restart_rejected", actor: actor, detail: Rejection(error: problem))
            return nil
        }
        await record(type: "service.restart_requested", actor: command.requestedBy, detail: command)
        return command
    }

    private struct Rejection: Encodable, Sendable { var error: String }

    private func record(type: String, actor: String, detail: some Encodable & Sendable) async {
        do {
            try await audit.append(actor: actor, type: type, subject: "service:\(identity.name)", detail: detail)
        } catch {
            // The restart still happens: a broken database must not make a service impossible to restart.
            logger.error("could not write the audit entry", metadata: ["audit.type": "\(type)", "error": "\(error)"])
        }
    }
}
