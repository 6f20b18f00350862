import Foundation

/// When the gateway received an event: ISO 8601 in UTC with milliseconds (`2026-11-23T14:05:09.123Z`). Its first
/// ten characters name the day file the event goes to, so a writer accepts nothing but this exact shape, and only
/// for a time that exists.
public enum IngestTimestamp {
    public static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// The UTC day (`YYYY-MM-DD`) of a timestamp in the shape above, or nil when it has another shape or names no
    /// real time: a calendar date (years 0001–9999, months 01–12, the month's length with leap years) and a time of
    /// 00:00:00.000–23:59:59.999. The shape alone let `2026-14-01T00:00:00.000Z` through, and the writer's day
    /// arithmetic then crashed on month 14 (issue 10).
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
        let number = { (digits: Range<Int>) in digits.reduce(0) { $0 * 10 + Int(utf8[$1] - UInt8(ascii: "0")) } }
        let (year, month, dayOfMonth) = (number(0..<4), number(5..<7), number(8..<10))
        guard year >= 1, (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(dayOfMonth),
            number(11..<13) < 24, number(14..<16) < 60, number(17..<19) < 60
        else { return nil }
        return timestamp.prefix(10)
    }

    /// The UTC day of `date` as day files are named.
    public static func day(_ date: Date) -> String { String(format(date).prefix(10)) }

    /// The number of days of `month` (1–12) in `year`, in the Gregorian calendar (ISO 8601's, also before 1582).
    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
