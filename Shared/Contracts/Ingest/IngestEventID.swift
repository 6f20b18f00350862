/// The id of one ingested event: the client's `Idempotency-Key` (with `#<index>` appended for each event of a batch),
/// or one the gateway assigns. Visible ASCII without `"` and `\`, so that it is written into a line as it is and
/// read back from a line without a JSON parser.
///
/// A key never contains `#`: then the ids of a batch sent under `K` (`K#0`, `K#1`, …) and the id of a single event
/// sent under another key are never the same. A single event sent with the key `K#0` was answered "stored" and
/// dropped as a duplicate of the batch's first event (issue 10).
public enum IngestEventID {
    public static let maximumLength = 128
    /// Room is left for `#<index>` of a batch element.
    public static let maximumKeyLength = 120

    public static func isValid(_ id: some StringProtocol) -> Bool {
        isValid(id, maximumLength: maximumLength)
    }

    public static func isValidKey(_ key: some StringProtocol) -> Bool {
        isValid(key, maximumLength: maximumKeyLength) && !key.utf8.contains(UInt8(ascii: "#"))
    }

    /// The id of the event at `index` of a batch sent under `key`.
    public static func batchElement(_ key: String, index: Int) -> String { "\(key)#\(index)" }

    private static func isValid(_ id: some StringProtocol, maximumLength: Int) -> Bool {
        let utf8 = id.utf8
        return (1...maximumLength).contains(utf8.count)
            && utf8.allSatisfy { (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }
}
