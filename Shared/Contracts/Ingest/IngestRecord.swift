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
        guard line.starts(with: idPrefix) else { return nil }
        let rest = line.dropFirst(idPrefix.count)
        guard let end = rest.firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        let id = Substring(decoding: rest[..<end], as: UTF8.self)
        return IngestEventID.isValid(id) ? id : nil
    }
}
