import Foundation
import ServiceKit
import TestSupport
import Testing

/// The shipped environment examples keep nothing secret: a service started with one unedited refuses to run
/// (a gateway started with api-gateway.env.example used to sign sessions with the example's JWT secret).
@Suite("Environment examples (service processes)", .timeLimit(.minutes(2)))
struct EnvironmentExampleTests {
    /// Starts `service` with `environment` changed only where this machine must differ (its port, its paths, no
    /// relay), and returns its exit code (nil when it kept running), the variables its output names and the output.
    func start(_ service: String, _ environment: [String: String]) async throws -> (code: Int32?, variables: Set<String>, output: String) {
        let directory = try makeTemporaryDirectory("env-example-\(service)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var environment = environment
        environment["LEITSTAND_HTTP_PORT"] = "\(try freeTCPPort())"
        for variable in ["LEITSTAND_DATA_DIR", "LEITSTAND_STATE_DIR"] where environment[variable] != nil {
            environment[variable] = directory.path
        }
        if environment["LEITSTAND_GPIO"] != nil { environment["LEITSTAND_GPIO"] = "sim:\(directory.path)/pulses.jsonl" }
        let process = try await ServiceProcess.start(service, environment: environment, waitUntilListening: false)
        let code = try? await process.process.waitForExit(timeout: .seconds(20))
        let output = process.process.output
        await process.stop()
        let variables = output.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("\(service): LEITSTAND_") else { return nil }
            return line.dropFirst(service.count + 2).prefix { $0 != ":" }.description
        }
        return (code, Set(variables), output)
    }

    @Test("a service started with its unedited deploy/systemd example exits 78, naming each placeholder and no value",
          arguments: ["api-gateway", "door-scheduler", "ingest-writer", "pi-door-client"])
    func refusesUneditedExample(_ service: String) async throws {
        let example = try EnvironmentExample("deploy/systemd/\(service).env.example")
        let placeholders = Set(example.active.filter { $0.value.contains("CHANGE-ME") }.keys)
        #expect(!placeholders.isEmpty)
        let result = try await start(service, example.active)
        #expect(result.code == 78, "\(result.output)")
        #expect(result.variables == placeholders, "\(result.output)")
        #expect(!result.output.contains("CHANGE-ME"), "a value in the output:\n\(result.output)")
    }

    @Test("a placeholder the example has commented out is refused once switched on", arguments: ["api-gateway", "ingest-writer"])
    func refusesCommentedPlaceholders(_ service: String) async throws {
        let example = try EnvironmentExample("deploy/systemd/\(service).env.example")
        let switchedOn = example.commented.filter { $0.value.contains("CHANGE-ME") }
        #expect(!switchedOn.isEmpty)
        let result = try await start(service, example.active.merging(switchedOn) { $1 })
        #expect(result.code == 78)
        #expect(result.variables.isSuperset(of: switchedOn.keys), "\(result.output)")
    }

    /// compose.yaml gets its secrets from `.env`, which starts as a copy of compose.env.example.
    @Test("deploy/compose.env.example: an empty value stops compose (`:?`), any other is one the services refuse")
    func composeExample() throws {
        let example = try EnvironmentExample("deploy/compose.env.example")
        let compose = try String(contentsOf: ServiceProcess.repositoryRoot.appendingPathComponent("compose.yaml"), encoding: .utf8)
        #expect(!example.active.isEmpty)
        for (name, value) in example.active {
            if value.isEmpty {
                // Without a metrics token /metrics is open, as documented; every other secret is required.
                #expect(compose.contains("${\(name):?") || name == "LEITSTAND_METRICS_TOKEN", "compose.yaml does not require \(name)")
                continue
            }
            // Where compose puts the value: a service's variable, or the password in its broker or database URL.
            let password = value.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed) ?? value
            let (variable, environment): (String, [String: String]) =
                switch name {
                case _ where name.hasPrefix("MQTT_PASSWORD_"): ("LEITSTAND_MQTT_URL", ["LEITSTAND_MQTT_URL": "mqtt://svc:\(password)@mosquitto:1883"])
                case "POSTGRES_PASSWORD": ("LEITSTAND_DATABASE_URL", ["LEITSTAND_DATABASE_URL": "postgres://leitstand:\(password)@postgres:5432/leitstand"])
                default: (name, [name: value])
                }
            let error = try #require(throws: ConfigurationError.self, "\(name) ships a value the services take") {
                try ConfigurationReader(environment: environment).validate()
            }
            #expect(error.problems.map(\.variable) == [variable])
        }
    }
}
