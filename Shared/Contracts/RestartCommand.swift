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
        if reason.trimmingCharacters(in: .whitespaces).isEmpty { return "reason must not be empty" }
        if requestedBy.trimmingCharacters(in: .whitespaces).isEmpty { return "requestedBy must not be empty" }
        if reason.count > Self.maximumTextLength { return "reason must be at most \(Self.maximumTextLength) characters" }
        if requestedBy.count > Self.maximumTextLength { return "requestedBy must be at most \(Self.maximumTextLength) characters" }
        // A control character (a NUL above all, which the audit log cannot store) would hide or break the entry.
        if Self.hasControlCharacters(reason) { return "reason must not contain control characters" }
        if Self.hasControlCharacters(requestedBy) { return "requestedBy must not contain control characters" }
        return nil
    }

    static func hasControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }
}
