import Foundation

/// What the gateway publishes on `leitstand/ingest/{domain}`: the events of one request, each with its id, and when
/// they were received. The writer answers with an ``IngestReply`` on the response topic only after fsync.
///
/// On the wire: a JSON header line `{"ids":[…],"receivedAt":"…"}`, then each event's compact JSON text on a line of
/// its own (compact JSON has no raw line breaks), so that the writer takes each event's text as it is. A message
/// may carry several batches one after the other (``encode(_:)``); the writer's reply covers all of them.
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

    /// Events of one request at most: keeps a message with its ids under the broker's `max_packet_size`.
    public static let maximumEvents = 10_000

    /// The largest message the gateway sends: under the broker's `max_packet_size` (2 MiB, deploy/mosquitto), with
    /// room for the topic and properties. A broker disconnects a client that sends a bigger packet.
    public static let maximumMessageBytes = 2_000_000

    /// At least what this batch adds to ``encode(_:)``'s message (an upper bound, without encoding it).
    public var encodedSize: Int {
        48 + receivedAt.utf8.count + events.reduce(0) { $0 + $1.id.utf8.count + 3 + $1.json.count + 1 }
    }

    /// Several requests' batches in one message (the gateway coalesces requests that arrive while a message to
    /// the writer is under way): each batch's header line, then its event lines, one batch after the other.
    /// The header is written by hand: ids and times need no escaping (``IngestEventID``, ``IngestTimestamp``).
    public static func encode(_ batches: [IngestBatch]) -> Data {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(batches.reduce(0) { total, batch in
            total + 48 + batch.events.reduce(0) { $0 + $1.id.utf8.count + $1.json.count + 4 }
        })
        for (index, batch) in batches.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: "\n")) }
            bytes.append(contentsOf: #"{"ids":["#.utf8)
            for (eventIndex, event) in batch.events.enumerated() {
                if eventIndex > 0 { bytes.append(UInt8(ascii: ",")) }
                bytes.append(UInt8(ascii: "\""))
                bytes.append(contentsOf: event.id.utf8)
                bytes.append(UInt8(ascii: "\""))
            }
            bytes.append(contentsOf: #"],"receivedAt":""#.utf8)
            bytes.append(contentsOf: batch.receivedAt.utf8)
            bytes.append(contentsOf: #""}"#.utf8)
            for event in batch.events {
                bytes.append(UInt8(ascii: "\n"))
                bytes.append(contentsOf: event.json)
            }
        }
        return Data(bytes)
    }

    /// Reads a message of one or more batches and checks everything a writer relies on: each header, the
    /// timestamp (a real time, see ``IngestTimestamp/day(of:)``), every id, one line per id, and that each event
    /// line is compact JSON.
    public static func decodeAll(_ data: Data) throws(IngestBatchError) -> [IngestBatch] {
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        var batches: [IngestBatch] = []
        var next = lines.startIndex
        while next < lines.endIndex {
            guard let header = try? ContractCoding.decode(Header.self, from: Data(lines[next])) else {
                throw IngestBatchError("the header line is not {\"ids\":[…],\"receivedAt\":\"…\"}")
            }
            guard IngestTimestamp.day(of: header.receivedAt) != nil else {
                throw IngestBatchError("receivedAt is not a real time as YYYY-MM-DDTHH:MM:SS.sssZ (UTC)")
            }
            let eventLines = lines[(next + 1)...].prefix(header.ids.count)
            guard eventLines.count == header.ids.count else {
                throw IngestBatchError("\(header.ids.count) ids for \(eventLines.count) event lines")
            }
            var events: [Event] = []
            events.reserveCapacity(header.ids.count)
            for (id, line) in zip(header.ids, eventLines) {
                guard IngestEventID.isValid(id) else { throw IngestBatchError("an invalid event id") }
                guard let json = try? CompactJSON(parsing: line), json.bytes.count == line.count else {
                    throw IngestBatchError("event \(id) is not compact JSON")
                }
                events.append(Event(id: id, json: json.bytes))
            }
            batches.append(IngestBatch(receivedAt: header.receivedAt, events: events))
            next = eventLines.endIndex
        }
        guard !batches.isEmpty else { throw IngestBatchError("an empty message") }
        return batches
    }
}

/// A message on an ingest topic that is not an ``IngestBatch``.
public struct IngestBatchError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
