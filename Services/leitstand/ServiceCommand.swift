import ArgumentParser
import Contracts
import Foundation
import MQTT

struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service",
        abstract: "See and restart the running services.",
        subcommands: [Status.self, Restart.self]
    )

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show every service's retained status.")

        @Option(help: "How long to collect retained statuses, in milliseconds.")
        var waitMs = 500

        /// Every service's retained status, as the broker hands them out on subscribe.
        static func collect(from client: MQTTClient, waitMs: Int) async throws -> [ServiceStatus] {
            let subscription = try await client.subscribe(Topic.allServiceStatuses)
            let collecting = Task {
                var statuses: [ServiceStatus] = []
                for await message in subscription {
                    if let status = try? ContractCoding.decode(ServiceStatus.self, from: message.payload) { statuses.append(status) }
                }
                return statuses
            }
            try await Task.sleep(for: .milliseconds(waitMs))
            subscription.cancel()
            return await collecting.value
        }

        func run() async throws {
            let waitMs = self.waitMs
            let statuses = try await CommandEnvironment.withBroker { client in try await Self.collect(from: client, waitMs: waitMs) }
            if statuses.isEmpty { print("no service has announced itself") }
            for status in statuses.sorted(by: { $0.service < $1.service }) {
                let since = status.at.map { " since \($0.formatted(.iso8601))" } ?? ""
                let reason = status.reason.map { " (\($0))" } ?? ""
                print("\(status.service.padding(toLength: 18, withPad: " ", startingAt: 0)) \(status.state.rawValue) \(status.version)\(since)\(reason)")
            }
        }
    }

    struct Restart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask one service to drain and exit, for its supervisor (compose, systemd) to start it again."
        )

        @Argument(help: "The service, e.g. api-gateway.")
        var service: String

        @Option(help: "Seconds to wait before restarting (0–300).")
        var delay = 0

        @Option(help: "Why; recorded in the audit log.")
        var reason: String

        @Option(help: "Who asks; recorded in the audit log.")
        var requestedBy = "\(ProcessInfo.processInfo.environment["USER"] ?? "operator")@\(ProcessInfo.processInfo.hostName)"

        func validate() throws {
            let command = RestartCommand(delaySeconds: delay, reason: reason, requestedBy: requestedBy)
            if let problem = command.validationError { throw ValidationError(problem) }
        }

        func run() async throws {
            let command = RestartCommand(delaySeconds: delay, reason: reason, requestedBy: requestedBy)
            let payload = try ContractCoding.encode(command)
            let service = self.service
            try await CommandEnvironment.withBroker { client in
                // A misspelt or stopped service has nobody listening: say so instead of "requested".
                let statuses = try await Status.collect(from: client, waitMs: 500)
                guard let status = statuses.first(where: { $0.service == service }) else {
                    let known = statuses.map(\.service).sorted().joined(separator: ", ")
                    throw CommandFailure("no service \(service) has announced itself on this broker (known: \(known.isEmpty ? "none" : known))")
                }
                guard status.state == .online else {
                    throw CommandFailure("\(service) is offline\(status.reason.map { " (\($0))" } ?? ""): nobody would take the command")
                }
                // The broker says so too when nobody subscribes (a status left behind by a service that is gone).
                guard try await client.publish(Topic.restartCommand(service), payload: payload, qos: .atLeastOnce, retain: false) == .delivered else {
                    throw CommandFailure("nobody takes \(service)'s restart command (it is not running): nothing was requested")
                }
            }
            print("restart of \(service) requested; watch it with: leitstand service status")
        }
    }
}
