import Foundation
import TestSupport
import Testing

/// The `dev` script's supervisor, run as `./dev up` runs it for each service, with `env` in place of the service
/// so that the environment it would get is printed into the service's log.
@Suite("dev script (bash)", .timeLimit(.minutes(1)))
struct DevScriptTests {
    /// Runs `./dev _supervise <service> /usr/bin/env` in a fresh state folder; returns what the supervisor printed
    /// (`./dev up` sends it to .run/logs/supervisor.log) and the environment the service got.
    func supervise(_ service: String, deviceEnvironment: String) async throws -> (supervisor: String, environment: [String]) {
        let directory = try makeTemporaryDirectory("dev-run")
        defer { try? FileManager.default.removeItem(at: directory) }
        for folder in ["logs", "pids"] {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try deviceEnvironment.write(to: directory.appendingPathComponent("demo-device.env"), atomically: true, encoding: .utf8)
        let process = try ChildProcess(
            name: "dev _supervise \(service)", executable: ServiceProcess.repositoryRoot.appendingPathComponent("dev"),
            arguments: ["_supervise", service, "/usr/bin/env"], environment: ["LEITSTAND_DEV_DIR": directory.path],
            outputFile: directory.appendingPathComponent("supervisor.log")
        )
        #expect(try await process.waitForExit(timeout: .seconds(20)) == 0)
        let log = try String(contentsOf: directory.appendingPathComponent("logs/\(service).log"), encoding: .utf8)
        return (process.output, log.split(separator: "\n").map(String.init))
    }

    @Test("the demo door device gets the broker URL of its own identity, and the supervisor prints nothing")
    func deviceBrokerURL() async throws {
        let deviceURL = "LEITSTAND_MQTT_URL=mqtt://demo-door-1:\(randomSecret())@127.0.0.1:18830"
        let device = try await supervise("pi-door-client", deviceEnvironment: "LEITSTAND_DEVICE_ID=demo-door-1\n\(deviceURL)\n")
        #expect(device.supervisor.isEmpty, "the supervisor printed:\n\(device.supervisor)")
        #expect(device.environment.filter { $0.hasPrefix("LEITSTAND_MQTT_URL=") } == [deviceURL])

        let gateway = try await supervise("api-gateway", deviceEnvironment: "")
        #expect(gateway.supervisor.isEmpty, "the supervisor printed:\n\(gateway.supervisor)")
        let gatewayURLs = gateway.environment.filter { $0.hasPrefix("LEITSTAND_MQTT_URL=") }
        #expect(gatewayURLs.count == 1 && gatewayURLs[0].hasPrefix("LEITSTAND_MQTT_URL=mqtt://api-gateway:"), "\(gatewayURLs)")
    }
}
