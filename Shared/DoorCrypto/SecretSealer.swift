import Crypto
import Foundation

/// Seals device secrets for the database with AES-256-GCM under a key that lives only in the environment
/// (`LEITSTAND_SECRET_KEY`, 32 bytes as 64 hex digits or base64). A dump of the database alone signs nothing;
/// the device id is bound in as associated data, so a sealed secret copied to another device's row fails to open.
public struct SecretSealer: Sendable, CustomStringConvertible {
    private let key: SymmetricKey

    /// nil when `text` is not 32 bytes in hex or base64.
    public init?(keyText: String) {
        let trimmed = keyText.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = DoorSignature.bytes(ofHex: trimmed) ?? Data(base64Encoded: trimmed), bytes.count == 32 else { return nil }
        key = SymmetricKey(data: bytes)
    }

    public var description: String { "SecretSealer(key: <redacted>)" }

    public func seal(_ secret: String, deviceID: String) throws -> Data {
        let box = try AES.GCM.seal(Data(secret.utf8), using: key, authenticating: Data(deviceID.utf8))
        guard let combined = box.combined else { throw SecretSealerError.cannotSeal }
        return combined
    }

    public func open(_ sealed: Data, deviceID: String) throws -> String {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return String(decoding: try AES.GCM.open(box, using: key, authenticating: Data(deviceID.utf8)), as: UTF8.self)
        } catch {
            throw SecretSealerError.cannotOpen(deviceID: deviceID)
        }
    }

    /// A new device secret: 32 random bytes as 64 hex digits.
    public static func newDeviceSecret() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Hex.encode($0) }
    }

    /// A new sealing key for `LEITSTAND_SECRET_KEY`, as 64 hex digits.
    public static func newKeyText() -> String { newDeviceSecret() }
}

public enum SecretSealerError: Error, CustomStringConvertible, Equatable {
    case cannotSeal
    /// Wrong `LEITSTAND_SECRET_KEY`, or a row that was tampered with or moved.
    case cannotOpen(deviceID: String)

    public var description: String {
        switch self {
        case .cannotSeal: "the secret could not be sealed"
        case .cannotOpen(let deviceID): "the secret of device \(deviceID) does not open with LEITSTAND_SECRET_KEY (wrong key, or the row was altered)"
        }
    }
}
