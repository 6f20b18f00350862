import Database
import Foundation
import MQTT
import PostgresNIO

/// One problem with one environment variable, phrased for the operator: `LEITSTAND_X: what is wrong`.
/// It never contains the variable's value, which may be a secret.
public struct ConfigurationProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var variable: String
    public var problem: String
    public var description: String { "\(variable): \(problem)" }
}

/// All configuration problems found at start-up, reported together so that one restart fixes them all.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigurationProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Reads configuration from the environment, collecting every problem instead of stopping at the first.
/// Call the readers, then ``validate()``: it throws one ``ConfigurationError`` that lists them all.
public struct ConfigurationReader: Sendable {
    public let environment: [String: String]
    public private(set) var problems: [ConfigurationProblem] = []
    /// Variables read with ``secret(_:minimumLength:)``, checked for placeholders by ``validate()``.
    private var secretsRead: [String] = []

    /// The secrets the services read with other readers (``required(_:)``, ``optional(_:)``): ``validate()`` checks
    /// them for placeholders whoever reads them.
    public static let secretVariables = [
        "LEITSTAND_JWT_SECRET", "LEITSTAND_TOKEN", "LEITSTAND_METRICS_TOKEN", "LEITSTAND_SECRET_KEY",
        "LEITSTAND_DEVICE_SECRET", "LEITSTAND_DEVICE_SECRET_PREVIOUS",
    ]
    /// URLs whose password is a secret.
    public static let secretURLVariables = ["LEITSTAND_MQTT_URL", "LEITSTAND_DATABASE_URL"]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public mutating func report(_ variable: String, _ problem: String) {
        problems.append(ConfigurationProblem(variable: variable, problem: problem))
    }

    /// The value, or nil when unset or empty.
    public func optional(_ variable: String) -> String? {
        guard let value = environment[variable]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    /// The value; reports the variable as not set when it is missing or empty.
    public mutating func required(_ variable: String) -> String? {
        guard let value = optional(variable) else {
            report(variable, "is not set")
            return nil
        }
        return value
    }

    /// A TCP port, `defaultValue` when unset.
    public mutating func port(_ variable: String, default defaultValue: Int) -> Int {
        integer(variable, default: defaultValue, range: 0...65535)
    }

    /// A whole number within `range`, `defaultValue` when unset.
    public mutating func integer(_ variable: String, default defaultValue: Int, range: ClosedRange<Int>) -> Int {
        guard let text = optional(variable) else { return defaultValue }
        guard let value = Int(text), range.contains(value) else {
            report(variable, "must be a whole number between \(range.lowerBound) and \(range.upperBound)")
            return defaultValue
        }
        return value
    }

    /// A boolean (`true`/`false`, `1`/`0`, `yes`/`no`), `defaultValue` when unset.
    public mutating func flag(_ variable: String, default defaultValue: Bool) -> Bool {
        guard let text = optional(variable)?.lowercased() else { return defaultValue }
        switch text {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default:
            report(variable, "must be true or false")
            return defaultValue
        }
    }

    /// A secret of at least `minimumLength` characters and no placeholder (checked by ``validate()``); never
    /// echoed in a problem.
    public mutating func secret(_ variable: String, minimumLength: Int) -> String? {
        secretsRead.append(variable)
        guard let value = required(variable) else { return nil }
        guard value.count >= minimumLength else {
            report(variable, "must be at least \(minimumLength) characters long")
            return nil
        }
        return value
    }

    /// The broker connection from `LEITSTAND_MQTT_URL` (and `LEITSTAND_MQTT_CA` for `mqtts://`).
    public mutating func mqtt(clientID: String) -> MQTTConfiguration? {
        guard let url = required("LEITSTAND_MQTT_URL") else { return nil }
        let caFile = optional("LEITSTAND_MQTT_CA")
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            report("LEITSTAND_MQTT_CA", "is not a readable file")
            return nil
        }
        do {
            return try MQTTConfiguration(url: url, caFile: caFile, clientID: clientID)
        } catch {
            report("LEITSTAND_MQTT_URL", "\(error)\(Self.passwordHint(url))")
            return nil
        }
    }

    /// The database connection from `LEITSTAND_DATABASE_URL`.
    public mutating func database() -> PostgresClient.Configuration? {
        guard let url = required("LEITSTAND_DATABASE_URL") else { return nil }
        do {
            return try PostgresClient.Configuration(url: url)
        } catch {
            report("LEITSTAND_DATABASE_URL", "\(error)\(Self.passwordHint(url))")
            return nil
        }
    }

    /// For a URL that does not parse, when its user and password hold a character that ends them early (`/`, `?`,
    /// `#`, `@`, brackets) or a `%` that starts no escape: how to write the password. `openssl rand -base64 36`
    /// puts a `/` into most passwords, and the URL then failed with "expected mqtt://user:pass@host:port" and no
    /// hint. Empty otherwise; never the value itself.
    private static func passwordHint(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://"), let at = url[schemeEnd.upperBound...].lastIndex(of: "@") else { return "" }
        let credentials = Array(url[schemeEnd.upperBound..<at].utf8)
        let endsEarly = credentials.contains { "/?#@[]".utf8.contains($0) }
        let strayPercent = credentials.indices.contains { index in
            credentials[index] == UInt8(ascii: "%")
                && !(index + 2 < credentials.count && credentials[index + 1...index + 2].allSatisfy { Character(Unicode.Scalar($0)).isHexDigit })
        }
        guard endsEarly || strayPercent else { return "" }
        return " (the password holds a character a URL does not allow there: percent-encode it, / as %2F, + as %2B, % as %25;"
            + " or generate hex secrets, `openssl rand -hex 32`)"
    }

    /// A directory that must exist and be writable (checked by writing and removing a probe file).
    public mutating func writableDirectory(_ variable: String) -> String? {
        guard let path = required(variable) else { return nil }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            report(variable, "\(path) does not exist or is not a directory")
            return nil
        }
        let probe = URL(fileURLWithPath: path).appendingPathComponent(".leitstand-write-probe-\(getpid())")
        guard FileManager.default.createFile(atPath: probe.path, contents: Data()) else {
            report(variable, "\(path) is not writable")
            return nil
        }
        try? FileManager.default.removeItem(at: probe)
        return path
    }

    /// Throws every problem reported so far and every placeholder in a secret (``secretVariables``, the secrets
    /// read with ``secret(_:minimumLength:)``, the passwords in ``secretURLVariables``).
    public func validate() throws(ConfigurationError) {
        let all = problems + placeholderProblems()
        if !all.isEmpty { throw ConfigurationError(problems: all) }
    }

    /// A problem for each secret that holds a placeholder; one line per variable, so none for a variable whose
    /// value was already refused for another reason.
    private func placeholderProblems() -> [ConfigurationProblem] {
        var checked = Set(problems.map(\.variable))
        var found: [ConfigurationProblem] = []
        let advice = "generate one, e.g. `openssl rand -hex 32`"
        for variable in Self.secretVariables + secretsRead where checked.insert(variable).inserted {
            if let value = optional(variable), PlaceholderSecret.matches(value) {
                found.append(ConfigurationProblem(variable: variable, problem: "is a placeholder (see docs/configuration.md), not a secret: \(advice)"))
            }
        }
        for variable in Self.secretURLVariables where checked.insert(variable).inserted {
            if let password = optional(variable).flatMap(URLComponents.init(string:))?.password, PlaceholderSecret.matches(password) {
                found.append(ConfigurationProblem(variable: variable, problem: "its password is a placeholder (see docs/configuration.md): \(advice)"))
            }
        }
        return found
    }
}
