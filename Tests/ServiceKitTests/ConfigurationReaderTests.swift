import Contracts
import Foundation
import MQTT
import PostgresNIO
import ServiceKit
import Testing

@Suite("Configuration from the environment")
struct ConfigurationReaderTests {
    @Test("every problem is collected, each naming its variable and never its value")
    func collectsProblems() {
        var reader = ConfigurationReader(environment: [
            "LEITSTAND_MQTT_URL": "http://svc:hunter2@broker",
            "LEITSTAND_HTTP_PORT": "eighty",
            "LEITSTAND_JWT_SECRET": "short-secret-value",
        ])
        _ = reader.mqtt(clientID: "c")
        _ = reader.database()
        _ = reader.port("LEITSTAND_HTTP_PORT", default: 8080)
        _ = reader.secret("LEITSTAND_JWT_SECRET", minimumLength: 32)
        #expect(reader.problems.map(\.variable) == ["LEITSTAND_MQTT_URL", "LEITSTAND_DATABASE_URL", "LEITSTAND_HTTP_PORT", "LEITSTAND_JWT_SECRET"])
        #expect(throws: ConfigurationError.self) { try reader.validate() }
        let text = reader.problems.map(\.description).joined(separator: "\n")
        #expect(!text.contains("hunter2") && !text.contains("short-secret-value"))
        #expect(text.contains("LEITSTAND_DATABASE_URL: is not set"))
    }

    @Test("well-formed values pass and defaults apply")
    func acceptsGoodValues() throws {
        var reader = ConfigurationReader(environment: [
            "LEITSTAND_MQTT_URL": "mqtt://svc:pw@127.0.0.1:1883",
            "LEITSTAND_DATABASE_URL": "postgres://u:p@127.0.0.1:5432/leitstand",
            "LEITSTAND_INGEST_ENABLED": "false",
        ])
        #expect(reader.mqtt(clientID: "c")?.port == 1883)
        #expect(reader.database()?.database == "leitstand")
        #expect(reader.port("LEITSTAND_HTTP_PORT", default: 8080) == 8080)
        #expect(reader.flag("LEITSTAND_INGEST_ENABLED", default: true) == false)
        try reader.validate()
    }

    @Test("a data directory must exist and be writable")
    func writableDirectory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var reader = ConfigurationReader(environment: ["LEITSTAND_DATA_DIR": directory.path, "OTHER": "/nonexistent/dir"])
        #expect(reader.writableDirectory("LEITSTAND_DATA_DIR") == directory.path)
        #expect(reader.writableDirectory("OTHER") == nil)
        #expect(reader.problems.map(\.variable) == ["OTHER"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test("restart commands: delay 0–300 s, a reason and who asked")
    func restartValidation() {
        #expect(RestartCommand(delaySeconds: 0, reason: "deploy", requestedBy: "ops").validationError == nil)
        #expect(RestartCommand(delaySeconds: 300, reason: "deploy", requestedBy: "ops").validationError == nil)
        #expect(RestartCommand(delaySeconds: 301, reason: "deploy", requestedBy: "ops").validationError != nil)
        #expect(RestartCommand(delaySeconds: -1, reason: "deploy", requestedBy: "ops").validationError != nil)
        #expect(RestartCommand(delaySeconds: 0, reason: " ", requestedBy: "ops").validationError != nil)
    }

    @Test("constant-time comparison is still a comparison")
    func constantTime() {
        #expect(ConstantTime.equals("token-abc", "token-abc"))
        #expect(!ConstantTime.equals("token-abc", "token-abd"))
        #expect(!ConstantTime.equals("token-abc", "token-ab"))
        #expect(!ConstantTime.equals("", "x"))
        #expect(ConstantTime.equals("", ""))
    }
}
