import Foundation

/// The payload of `leitstand/svc/{service}/cmd/restart`.
public struct RestartCommand: Codable, Sendable, Equatable {
    /// The longest delay a restart may ask for.
    public static let maximumDelaySeconds = 300
    /// The longest reason and requester: they go into logs and the audit log.
    public static let maximumTextLength = 200

    public var delaySeconds: Int
    public var reason: String
    public var requestedBy: String

    public init(delaySeconds: Int = 0, reason: String, requestedBy: String) {
        self.delaySeconds = delaySeconds
        self.reason = reason
        self.requestedBy = requestedBy
    }

    /// Why this command must be refused, or nil when it is acceptable.
    public var validationError: String? {
        if !(0...Self.maximumDelaySeconds).contains(delaySeconds) {
            return "delaySeconds must be between 0 and \(Self.maximumDelaySeconds)"
        }
        return Self.problem(of: "reason", reason) ?? Self.problem(of: "requestedBy", requestedBy)
    }

    /// Whether `requestedBy` may go into a log and the audit log as it is (the rest of the command may still be bad).
    public var hasUsableRequester: Bool { Self.problem(of: "requestedBy", requestedBy) == nil }

    /// What is wrong with the text field `name`: empty, too long, or a control character (a NUL above all, which the
    /// audit log cannot store, would hide or break the entry).
    static func problem(of name: String, _ text: String) -> String? {
        if text.trimmingCharacters(in: .whitespaces).isEmpty { return "\(name) must not be empty" }
        if text.count > maximumTextLength { return "\(name) must be at most \(maximumTextLength) characters" }
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            return "\(name) must not contain control characters"
        }
        return nil
    }
}
