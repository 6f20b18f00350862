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

        func run() async throws {
            let statuses = try await CommandEnvironment.withBroker { client in
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
            let topic = Topic.restartCommand(service)
            try await CommandEnvironment.withBroker { client in
                try await client.publish(topic, payload: payload, qos: .atLeastOnce, retain: false)
            }
            print("restart of \(service) requested; watch it with: leitstand service status")
        }
    }
}
