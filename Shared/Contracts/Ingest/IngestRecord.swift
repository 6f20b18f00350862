/// One line of a day file `{DATA_DIR}/{domain}/{YYYY-MM-DD}.jsonl`:
/// `{"id":"…","receivedAt":"…","domain":"…","data":<the event as sent>}` and a line feed.
///
/// The id, time and domain need no escaping (see ``IngestEventID``, ``IngestTimestamp``, ``IngestDomain``), so a
/// line is put together from bytes and its id read back without a JSON parser.
public enum IngestRecord {
    private static let idPrefix = Array(#"{"id":""#.utf8)

    public static func append(
        id: String,
        receivedAt: String,
        domain: String,
        json: [UInt8],
        to line: inout [UInt8]
    ) {
        line.append(contentsOf: idPrefix)
        line.append(contentsOf: id.utf8)
        line.append(contentsOf: #"","receivedAt":""#.utf8)
        line.append(contentsOf: receivedAt.utf8)
        line.append(contentsOf: #"","domain":""#.utf8)
        line.append(contentsOf: domain.utf8)
        line.append(contentsOf: #"","data":"#.utf8)
        line.append(contentsOf: json)
        line.append(contentsOf: "}\n".utf8)
    }

    /// The id of a line written by ``append(id:receivedAt:domain:json:to:)``, or nil for any other line.
    public static func id(ofLine line: some Collection<UInt8>) -> Substring? {
        let bytes = Array(line)
        return bytes.withUnsafeBytes { buffer in
            idBytes(ofLine: buffer).map { Substring(decoding: $0, as: UTF8.self) }
        }
    }

    /// The bytes of a line's id (see ``id(ofLine:)``), without copying: start-up reads every line of a day's file.
    public static func idBytes(ofLine line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard line.count > idPrefix.count, line.starts(with: idPrefix) else { return nil }
        let rest = UnsafeRawBufferPointer(rebasing: line[idPrefix.count...])
        guard let end = rest.firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        let id = UnsafeRawBufferPointer(rebasing: rest[..<end])
        guard (1...IngestEventID.maximumLength).contains(id.count) else { return nil }
        return id
    }
}
