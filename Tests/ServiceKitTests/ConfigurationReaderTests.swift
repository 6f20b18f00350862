import Contracts
import Foundation
import MQTT
import PostgresNIO
import Primitives
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
        let advice = "(see docs/configuration.md), not a secret: generate one, e.g. `openssl rand -hex 32`"
        let urlAdvice = "(see docs/configuration.md): generate one, e.g. `openssl rand -hex 32`"
        #expect(error.problems.allSatisfy { $0.problem == "is a placeholder \(advice)" || $0.problem == "its password is a placeholder \(urlAdvice)" }, "\(error)")
    }

    @Test("generated secrets and the tests' fixed ones pass", arguments: [
        "test-jwt-secret-0123456789abcdef-xyz", "test-ingest-token-4711", "dcd305bf87881a8ebff2374e281848e42b7a23a2ade53ef24d9603aba30d5392", "metrics-token-123",
        "kQ8v1b0yZr3WmXo2J5tL9uHc", "Zx1c2V3b4N5m6A7s8D9f0G1h2J3k4L5z6X7c8V9b0N1m2Q3w4E5r6T7y8U9i0O1p", "p", "pw",
    ])
    func acceptsSecrets(_ secret: String) throws {
        try ConfigurationReader(environment: Self.secrets(secret)).validate()
    }

    @Test("a repeated unit, password, passwort or secret inside a value, and placeholders spelt with diacritics are refused (fails before: all accepted)", arguments: [
        String(repeating: "ab", count: 18), "password1234567890password1234567890", "0123456789abcdef0123456789abcdef",
        "ÇHANGE-ME-at-least-32-characters-long", "ＣＨＡＮＧＥ－ＭＥ-0123456789", String(repeating: "5a", count: 32), "Abab-ABAB-abab-AbAb",
        "MySecretPassword2024forLeitstand", "supersecretpasswordforleitstandprod", "Passwort-Baustelle-2024!", "secret-0123456789abcdef",
        "my-sécret-key-4711-4711-4711",
    ])
    func refusesRepetitionsAndWords(_ placeholder: String) throws {
        try refusesPlaceholders(placeholder)
    }

    @Test("a value holding password or secret passes when the rest is a secret by itself; generated ones pass", arguments: [
        "test-jwt-secret-0123456789abcdef-xyz", "secret:Q7m2Xk9vL4pR8tZ1wN6yB3hJ", "kZ3/9xQ+tW1b7Lm0vR5cYp8NfS2gHd6A+e4U/jK0", "5a5a5a5a5b",
        "dcd305bf87881a8ebff2374e281848e42b7a23a2ade53ef24d9603aba30d5392",
    ])
    func acceptsSecretsAroundWords(_ secret: String) throws {
        try ConfigurationReader(environment: Self.secrets(secret)).validate()
    }

    @Test("a URL whose password breaks it (a / from openssl rand -base64) says how to write it, without the value (fails before: no hint)")
    func urlPasswordHint() throws {
        let password = "Zk3/q9+Lm0v"
        var reader = ConfigurationReader(environment: [
            "LEITSTAND_MQTT_URL": "mqtt://svc:\(password)@127.0.0.1:1883",
            "LEITSTAND_DATABASE_URL": "postgres://leitstand:\(password)@127.0.0.1:5432/leitstand",
        ])
        _ = reader.mqtt(clientID: "c")
        _ = reader.database()
        #expect(reader.problems.map(\.variable) == ["LEITSTAND_MQTT_URL", "LEITSTAND_DATABASE_URL"])
        for problem in reader.problems {
            #expect(problem.problem.contains("/ as %2F, + as %2B") && problem.problem.contains("`openssl rand -hex 32`"), "\(problem)")
            #expect(!problem.problem.contains(password) && !problem.problem.contains("Zk3"), "\(problem)")
        }
        // Percent-encoded, the same password works.
        let encoded = "Zk3%2Fq9%2BLm0v"
        var fixed = ConfigurationReader(environment: [
            "LEITSTAND_MQTT_URL": "mqtt://svc:\(encoded)@127.0.0.1:1883",
            "LEITSTAND_DATABASE_URL": "postgres://leitstand:\(encoded)@127.0.0.1:5432/leitstand",
        ])
        #expect(fixed.mqtt(clientID: "c")?.password == password)
        #expect(fixed.database()?.password == password)
        #expect(fixed.problems.isEmpty)
        // A URL wrong for another reason gets no advice about passwords.
        var other = ConfigurationReader(environment: ["LEITSTAND_MQTT_URL": "http://svc:pw@127.0.0.1:1883"])
        _ = other.mqtt(clientID: "c")
        #expect(other.problems.count == 1 && !other.problems[0].problem.contains("%2F"), "\(other.problems)")
    }

    @Test("one line per variable; a secret read with secret() is checked whatever its name")
    func placeholderLines() throws {
        var reader = ConfigurationReader(environment: ["LEITSTAND_JWT_SECRET": "changeme", "LEITSTAND_ARCHIVE_TOKEN": "CHANGE-ME-0123456789"])
        _ = reader.secret("LEITSTAND_JWT_SECRET", minimumLength: 32)
        _ = reader.secret("LEITSTAND_ARCHIVE_TOKEN", minimumLength: 16)
        let error = try #require(throws: ConfigurationError.self) { try reader.validate() }
        #expect(error.problems.map(\.description) == [
            "LEITSTAND_JWT_SECRET: must be at least 32 characters long",
            "LEITSTAND_ARCHIVE_TOKEN: is a placeholder (see docs/configuration.md), not a secret: generate one, e.g. `openssl rand -hex 32`",
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
