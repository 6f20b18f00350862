import Foundation

/// What the gateway publishes on `leitstand/ingest/{domain}`: the events of one request, each with its id, and when
/// they were received. The writer answers with an ``IngestReply`` on the response topic only after fsync.
///
/// On the wire: a JSON header line `{"ids":[…],"receivedAt":"…"}`, then each event's compact JSON text on a line of
/// its own (compact JSON has no raw line breaks), so that the writer takes each event's text as it is.
public struct IngestBatch: Sendable, Equatable {
    public struct Event: Sendable, Equatable {
        public var id: String
        /// The event's compact JSON text (see ``CompactJSON``).
        public var json: [UInt8]

        public init(id: String, json: [UInt8]) {
            self.id = id
            self.json = json
        }
    }

    public var receivedAt: String
    public var events: [Event]

    public init(receivedAt: String, events: [Event]) {
        self.receivedAt = receivedAt
        self.events = events
    }

    private struct Header: Codable {
        var ids: [String]
        var receivedAt: String
    }

    public func encoded() throws -> Data {
        var data = try ContractCoding.encode(Header(ids: events.map(\.id), receivedAt: receivedAt))
        data.reserveCapacity(data.count + events.reduce(0) { $0 + $1.json.count + 1 })
        for event in events {
            data.append(UInt8(ascii: "\n"))
            data.append(contentsOf: event.json)
        }
        return data
    }

    /// Reads a batch and checks everything a writer relies on: the header, the timestamp's shape, every id, one
    /// line per id, and that each line is compact JSON.
    public init(decoding data: Data) throws(IngestBatchError) {
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        guard let headerLine = lines.first, let header = try? ContractCoding.decode(Header.self, from: Data(headerLine)) else {
            throw IngestBatchError("the header line is not {\"ids\":[…],\"receivedAt\":\"…\"}")
        }
        guard IngestTimestamp.day(of: header.receivedAt) != nil else {
            throw IngestBatchError("receivedAt is not an ISO 8601 UTC time with milliseconds")
        }
        guard header.ids.count == lines.count - 1 else {
            throw IngestBatchError("\(header.ids.count) ids for \(lines.count - 1) event lines")
        }
        var events: [Event] = []
        events.reserveCapacity(header.ids.count)
        for (id, line) in zip(header.ids, lines.dropFirst()) {
            guard IngestEventID.isValid(id) else { throw IngestBatchError("an invalid event id") }
            guard let json = try? CompactJSON(parsing: line), json.bytes.count == line.count else {
                throw IngestBatchError("event \(id) is not compact JSON")
            }
            events.append(Event(id: id, json: json.bytes))
        }
        self.init(receivedAt: header.receivedAt, events: events)
    }
}

/// A message on an ingest topic that is not an ``IngestBatch``.
public struct IngestBatchError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
