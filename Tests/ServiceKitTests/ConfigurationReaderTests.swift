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

    /// Every secret the services read, set to `value` (in the URLs as their password).
    static func secrets(_ value: String) -> [String: String] {
        let password = value.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed) ?? value
        var environment = [
            "LEITSTAND_MQTT_URL": "mqtt://svc:\(password)@127.0.0.1:1883",
            "LEITSTAND_DATABASE_URL": "postgres://leitstand:\(password)@127.0.0.1:5432/leitstand",
        ]
        for variable in ConfigurationReader.secretVariables { environment[variable] = value }
        return environment
    }

    @Test("a placeholder in any secret is refused, naming the variable and never the value", arguments: [
        "CHANGE-ME", "CHANGE-ME-at-least-32-characters-long", "change_me", "<ChangeMe>", "changeme", "Change-Me-Please-4711",
        "replace-me-with-a-real-secret", "PLACEHOLDER", "example-token-0123456789abcdef", "your-secret-here", "secret", "Password",
        "<token>", "passwort", "123456", String(repeating: "x", count: 40), String(repeating: "0", count: 64), "--",
    ])
    func refusesPlaceholders(_ placeholder: String) throws {
        let reader = ConfigurationReader(environment: Self.secrets(placeholder))
        let error = try #require(throws: ConfigurationError.self) { try reader.validate() }
        #expect(error.problems.map(\.variable) == ConfigurationReader.secretVariables + ConfigurationReader.secretURLVariables)
        // Word for word, so nothing of the value is in them.
        let advice = "(see docs/configuration.md), not a secret: generate one, e.g. `openssl rand -base64 36`"
        let urlAdvice = "(see docs/configuration.md): generate one, e.g. `openssl rand -base64 36`"
        #expect(error.problems.allSatisfy { $0.problem == "is a placeholder \(advice)" || $0.problem == "its password is a placeholder \(urlAdvice)" }, "\(error)")
    }

    @Test("generated secrets and the tests' fixed ones pass", arguments: [
        "test-jwt-secret-0123456789abcdef-xyz", "test-ingest-token-4711", String(repeating: "5a", count: 32), "metrics-token-123",
        "kQ8v1b0yZr3WmXo2J5tL9uHc", "Zx1c2V3b4N5m6A7s8D9f0G1h2J3k4L5z6X7c8V9b0N1m2Q3w4E5r6T7y8U9i0O1p", "p", "pw",
    ])
    func acceptsSecrets(_ secret: String) throws {
        try ConfigurationReader(environment: Self.secrets(secret)).validate()
    }

    @Test("one line per variable; a secret read with secret() is checked whatever its name")
    func placeholderLines() throws {
        var reader = ConfigurationReader(environment: ["LEITSTAND_JWT_SECRET": "changeme", "LEITSTAND_ARCHIVE_TOKEN": "CHANGE-ME-0123456789"])
        _ = reader.secret("LEITSTAND_JWT_SECRET", minimumLength: 32)
        _ = reader.secret("LEITSTAND_ARCHIVE_TOKEN", minimumLength: 16)
        let error = try #require(throws: ConfigurationError.self) { try reader.validate() }
        #expect(error.problems.map(\.description) == [
            "LEITSTAND_JWT_SECRET: must be at least 32 characters long",
            "LEITSTAND_ARCHIVE_TOKEN: is a placeholder (see docs/configuration.md), not a secret: generate one, e.g. `openssl rand -base64 36`",
        ])
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
