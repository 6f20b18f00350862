import Contracts
import Crypto
import Foundation

/// The HMAC-SHA256 signatures of door jobs and confirms: hex on the wire, keyed with the device secret's UTF-8
/// bytes, compared in constant time.
public enum DoorSignature {
    /// Lower-case hex HMAC-SHA256 of `text` under `secret`.
    public static func sign(_ text: String, secret: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return Hex.encode(code)
    }

    /// Whether `signature` is the HMAC of `text` under any of `secrets` (current and, during rotation, previous).
    /// Every secret is tried, so the time taken does not tell which one matched.
    public static func isValid(_ signature: String, of text: String, secrets: [String]) -> Bool {
        guard let code = Self.bytes(ofHex: signature), code.count == SHA256.byteCount else { return false }
        var valid = false
        for secret in secrets {
            let key = SymmetricKey(data: Data(secret.utf8))
            if HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: Data(text.utf8), using: key) { valid = true }
        }
        return valid
    }

    /// Lower-case hex SHA-256 of a secret: what the gateway forwards instead of the secret itself.
    public static func digest(ofSecret secret: String) -> String {
        Hex.encode(SHA256.hash(data: Data(secret.utf8)))
    }

    static func bytes(ofHex hex: String) -> Data? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes = Data(capacity: digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// A door message that carries an HMAC of its `signedText` in `sig`.
public protocol DoorSignedMessage {
    var signedText: String { get }
    var sig: String { get set }
}

extension DoorJob: DoorSignedMessage {
    /// Whether a device holding `secrets` may trust the job: `sig` or, during a rotation, `previousSig` verifies.
    public func isVerifiable(with secrets: [String]) -> Bool {
        ([sig] + (previousSig.map { [$0] } ?? [])).contains { DoorSignature.isValid($0, of: signedText, secrets: secrets) }
    }
}

extension DoorConfirm: DoorSignedMessage {}

extension DoorConfirmReceipt: DoorSignedMessage {}

extension DoorSignedMessage {
    /// This message with `sig` set under `secret`.
    public func signed(with secret: String) -> Self {
        var message = self
        message.sig = DoorSignature.sign(signedText, secret: secret)
        return message
    }

    /// Whether `sig` is the HMAC under one of `secrets`.
    public func hasValidSignature(secrets: [String]) -> Bool {
        DoorSignature.isValid(sig, of: signedText, secrets: secrets)
    }
}
