/// The shapes of the names and values a door request carries. The gateway and the scheduler both check them, so
/// that neither decides on, stores or logs anything larger or stranger than these (a 100 000-character area name
/// once reached a log line as it was).
public enum DoorNames {
    /// Areas and device ids: `^[a-z0-9-]{1,64}$` (the database checks the same).
    public static func isValidArea(_ name: some StringProtocol) -> Bool { isLowercaseName(name) }

    public static func isValidDeviceID(_ id: some StringProtocol) -> Bool { isLowercaseName(id) }

    /// Member usernames: `^[A-Za-z0-9._@-]{1,128}$` (the database checks the same).
    public static func isValidMember(_ name: some StringProtocol) -> Bool {
        let utf8 = name.utf8
        return (1...128).contains(utf8.count) && utf8.allSatisfy { byte in
            isLowercaseLetterOrDigit(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "@") || byte == UInt8(ascii: "-")
        }
    }

    /// `Idempotency-Key` of an open: 1–128 visible ASCII characters. Counted in bytes: one "character" with
    /// thousands of combining marks was 10 kB, more than the key's index can hold (a 503 any member could cause).
    public static let maximumIdempotencyKeyLength = 128

    public static func isValidIdempotencyKey(_ key: some StringProtocol) -> Bool {
        (1...maximumIdempotencyKeyLength).contains(key.utf8.count) && key.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// A device's confirm message (free text, e.g. why the relay failed) is cut to this many characters.
    public static let maximumConfirmMessageLength = 1_024

    /// A job's nonce, as a device sends it back: the scheduler makes 32 hex digits; letters, digits, `-` and `_`
    /// up to 64 pass.
    public static func isValidNonce(_ nonce: some StringProtocol) -> Bool {
        (1...64).contains(nonce.utf8.count) && nonce.utf8.allSatisfy { byte in
            isLowercaseLetterOrDigit(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
    }

    private static func isLowercaseName(_ name: some StringProtocol) -> Bool {
        let utf8 = name.utf8
        return (1...64).contains(utf8.count) && utf8.allSatisfy { isLowercaseLetterOrDigit($0) || $0 == UInt8(ascii: "-") }
    }

    private static func isLowercaseLetterOrDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
