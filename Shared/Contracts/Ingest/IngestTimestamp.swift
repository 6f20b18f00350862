import Foundation

/// When the gateway received an event: ISO 8601 in UTC with milliseconds (`2026-11-23T14:05:09.123Z`). Its first
/// ten characters name the day file the event goes to, so a writer accepts nothing but this exact shape.
public enum IngestTimestamp {
    public static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// The UTC day (`YYYY-MM-DD`) of a timestamp in the shape above, or nil when it has another shape.
    public static func day(of timestamp: String) -> Substring? {
        let utf8 = Array(timestamp.utf8)
        let pattern = Array("dddd-dd-ddTdd:dd:dd.dddZ".utf8)
        guard utf8.count == pattern.count else { return nil }
        for (byte, expected) in zip(utf8, pattern) {
            if expected == UInt8(ascii: "d") {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            } else if byte != expected {
                return nil
            }
        }
        return timestamp.prefix(10)
    }

    /// The UTC day of `date` as day files are named.
    public static func day(_ date: Date) -> String { String(format(date).prefix(10)) }
}
