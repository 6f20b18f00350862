import Contracts
import Database
import Foundation
import MQTT
import TestSupport
import Testing

/// The operator CLI, run as a process the way an operator runs it.
@Suite("leitstand CLI", .timeLimit(.minutes(2)))
struct CLITests {
    func run(_ arguments: [String], environment: [String: String]) async throws -> (code: Int32, output: String) {
        let directory = try makeTemporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: directory) }
        let process = try ChildProcess(
            name: "leitstand \(arguments.joined(separator: " "))",
            executable: try projectExecutable("leitstand"),
            arguments: arguments,
            environment: environment,
            outputFile: directory.appendingPathComponent("output.log")
        )
        let code = try await process.waitForExit(timeout: .seconds(30))
        return (code, process.output)
    }

    @Test("migrate applies the schema once; the second run says it is current")
    func migrate() async throws {
        try await TestDatabase.with { database in
            let first = try await run(["migrate"], environment: ["LEITSTAND_DATABASE_URL": database.url])
            #expect(first.code == 0)
            #expect(first.output.contains("applied 1 audit_log"), "\(first.output)")
            let second = try await run(["migrate"], environment: ["LEITSTAND_DATABASE_URL": database.url])
            #expect(second.code == 0)
            #expect(second.output.contains("schema is current (version \(LeitstandSchema.migrations.last!.version))"), "\(second.output)")
        }
    }

    @Test("a missing variable fails the command and names it")
    func missingVariable() async throws {
        let result = try await run(["migrate"], environment: [:])
        #expect(result.code != 0)
        #expect(result.output.contains("LEITSTAND_DATABASE_URL: is not set"), "\(result.output)")
    }

    @Test("service restart publishes a valid, non-retained command; status lists what announced itself")
    func restartAndStatus() async throws {
        try await MosquittoBroker.with { broker in
            let watcher = try await broker.connectedClient()
            let commands = MessageCollector(try await watcher.subscribe(Topic.restartCommand("api-gateway")))
            defer { commands.stop() }
            // The service has announced itself (the CLI refuses a restart nobody would take).
            let status = ServiceStatus(state: .online, service: "api-gateway", version: "9.9.9", at: Date())
            try await watcher.publish(Topic.serviceStatus("api-gateway"), payload: try ContractCoding.encode(status), retain: true)
            let result = try await run(
                ["service", "restart", "api-gateway", "--reason", "new config", "--delay", "5", "--requested-by", "alice"],
                environment: ["LEITSTAND_MQTT_URL": broker.url]
            )
            #expect(result.code == 0, "\(result.output)")
            let message = try #require(try await commands.waitFor(1).first)
            #expect(message.retain == false)
            #expect(try ContractCoding.decode(RestartCommand.self, from: message.payload) == RestartCommand(delaySeconds: 5, reason: "new config", requestedBy: "alice"))

            let refused = try await run(["service", "restart", "api-gateway", "--reason", "x", "--delay", "301"], environment: ["LEITSTAND_MQTT_URL": broker.url])
            #expect(refused.code != 0 && refused.output.contains("delaySeconds must be between 0 and 300"))

            let listed = try await run(["service", "status", "--wait-ms", "300"], environment: ["LEITSTAND_MQTT_URL": broker.url])
            #expect(listed.code == 0)
            #expect(listed.output.contains("api-gateway") && listed.output.contains("online 9.9.9"), "\(listed.output)")
        }
    }

    @Test("service restart of a misspelt or offline service is refused, not \"requested\" (fails before: it printed requested)")
    func restartOfUnknownService() async throws {
        try await MosquittoBroker.with { broker in
            let announcer = try await broker.connectedClient()
            let offline = ServiceStatus(state: .offline, service: "ingest-writer", version: "1", at: nil, reason: "connection lost")
            try await announcer.publish(Topic.serviceStatus("ingest-writer"), payload: try ContractCoding.encode(offline), retain: true)
            let online = ServiceStatus(state: .online, service: "api-gateway", version: "1", at: Date())
            try await announcer.publish(Topic.serviceStatus("api-gateway"), payload: try ContractCoding.encode(online), retain: true)

            let misspelt = try await run(["service", "restart", "api-gatewya", "--reason", "typo"], environment: ["LEITSTAND_MQTT_URL": broker.url])
            #expect(misspelt.code != 0 && misspelt.output.contains("no service api-gatewya") && misspelt.output.contains("api-gateway"), "\(misspelt.output)")
            #expect(!misspelt.output.contains("requested"))
            let stopped = try await run(["service", "restart", "ingest-writer", "--reason", "x"], environment: ["LEITSTAND_MQTT_URL": broker.url])
            #expect(stopped.code != 0 && stopped.output.contains("ingest-writer is offline"), "\(stopped.output)")
        }
    }
}
