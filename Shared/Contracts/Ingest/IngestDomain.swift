/// An ingest domain names a folder under the writer's data directory, so it is held to `^[a-z0-9-]{1,64}$`.
public enum IngestDomain {
    public static let maximumLength = 64

    public static func isValid(_ domain: some StringProtocol) -> Bool {
        let utf8 = domain.utf8
        return (1...maximumLength).contains(utf8.count) && utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "-")
        }
    }
}
