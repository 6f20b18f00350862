import Foundation
import TestSupport

/// One of the shipped environment files (`deploy/systemd/*.env.example`, `deploy/compose.env.example`), read the
/// way systemd's `EnvironmentFile=` and compose's `.env` read them: `NAME=value` lines, `#` comments.
struct EnvironmentExample {
    /// The assignments in effect, as a service started with the file unedited gets them.
    var active: [String: String] = [:]
    /// The assignments commented out (`# NAME=value`), for an operator to switch on.
    var commented: [String: String] = [:]

    init(_ path: String) throws {
        let text = try String(contentsOf: ServiceProcess.repositoryRoot.appendingPathComponent(path), encoding: .utf8)
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let isComment = line.hasPrefix("#")
            let assignment = isComment ? line.dropFirst().trimmingCharacters(in: .whitespaces) : line
            guard let equals = assignment.firstIndex(of: "="), assignment[..<equals].allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" }),
                !assignment[..<equals].isEmpty
            else { continue }
            let name = String(assignment[..<equals])
            let value = String(assignment[assignment.index(after: equals)...])
            if isComment { commented[name] = value } else { active[name] = value }
        }
    }
}
