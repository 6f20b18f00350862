import Contracts
import Crypto
import Foundation

/// Seals a request between services with a key only the asker and the responder hold (`LEITSTAND_RPC_KEY`), so
/// that the broker's ACL is not the only thing standing between a broker account and an open door: whoever holds
/// the broker's administration rights can make accounts with any rights, but cannot seal a request.
///
/// A sealed request is `{"body": <the request's JSON as text>, "deadlineMs": <Unix ms>, "mac": <hex>}`, the MAC an
/// HMAC-SHA256 over the topic, the deadline and the body: it cannot be moved to another method, given more time, or
/// changed. A copy sent again before its deadline is the same request again (the door's locks and idempotency make
/// that harmless); after it, nothing.
public struct RPCSeal: Sendable, CustomStringConvertible {
    private let key: SymmetricKey

    /// The longest a sealed request may claim to have: no asker waits longer than a minute.
    public static let longestDeadline: TimeInterval = 60

    /// nil for a key shorter than 32 characters.
    public init?(keyText: String) {
        guard keyText.count >= 32 else { return nil }
        key = SymmetricKey(data: SHA256.hash(data: Data("leitstand-rpc|\(keyText)".utf8)))
    }

    public var description: String { "RPCSeal(key: <redacted>)" }

    /// Stands in while configuration is read; a process that has it exits with the configuration error first.
    public static let placeholder = RPCSeal(keyText: UUID().uuidString + UUID().uuidString)!

    private struct Sealed: Codable {
        var body: String
        var deadlineMs: Int64
        var mac: String
    }

    /// The payload for `body` (a request's JSON) on `topic`, to be acted on only before `deadline`.
    public func seal(_ body: Data, topic: String, deadline: Date) throws -> Data {
        let text = String(decoding: body, as: UTF8.self)
        let deadlineMs = Int64((deadline.timeIntervalSince1970 * 1_000).rounded(.down))
        return try ContractCoding.encode(Sealed(body: text, deadlineMs: deadlineMs, mac: mac(topic: topic, deadlineMs: deadlineMs, body: text)))
    }

    /// The body and deadline of a sealed payload on `topic`, or nil when it is not sealed with this key for this
    /// topic, or claims a deadline further off than ``longestDeadline``.
    public func open(_ payload: Data, topic: String, now: Date = Date()) -> (body: Data, deadline: Date)? {
        guard let sealed = try? ContractCoding.decode(Sealed.self, from: payload),
            let code = DoorSignature.bytes(ofHex: sealed.mac),
            HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: Self.signedText(topic, sealed.deadlineMs, sealed.body), using: key)
        else { return nil }
        let deadline = Date(timeIntervalSince1970: Double(sealed.deadlineMs) / 1_000)
        guard deadline.timeIntervalSince(now) <= Self.longestDeadline else { return nil }
        return (Data(sealed.body.utf8), deadline)
    }

    private func mac(topic: String, deadlineMs: Int64, body: String) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: Self.signedText(topic, deadlineMs, body), using: key))
    }

    private static func signedText(_ topic: String, _ deadlineMs: Int64, _ body: String) -> Data {
        Data("\(topic)\n\(deadlineMs)\n\(body)".utf8)
    }
}
