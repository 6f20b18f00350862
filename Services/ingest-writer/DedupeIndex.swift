import Contracts
import Foundation

/// The ids already on disk for one domain, by day file. An id counts as written if it is in the day file it would
/// go to or in the file of the day before or the day after: two sends of one id less than 24 hours apart are always
/// found, whichever is written first; 48 hours or more apart, never. It is rebuilt from the files, so it is exactly
/// as durable as the events themselves.
struct DedupeIndex {
    private var days: [String: FingerprintShards] = [:]

    /// Whether the id is on disk in one of `days` (``window(of:)``, worked out once per group).
    func contains(_ fingerprint: EventFingerprint, inAnyOf days: [String]) -> Bool {
        days.contains { self.days[$0]?.contains(fingerprint) == true }
    }

    /// The days whose files an event of `day` is looked for in: the day before, the day, the day after.
    static func window(of day: String) -> [String] { [previous(day), day, next(day)] }

    /// Makes room for about `count` more ids of `day` at once, instead of rehashing millions of ids several times
    /// while a day file is read.
    mutating func reserve(_ count: Int, day: String) {
        days[day, default: FingerprintShards()].reserve(additional: count)
    }

    mutating func insert(_ fingerprint: EventFingerprint, day: String) {
        days[day, default: FingerprintShards()].insert(fingerprint)
    }

    mutating func insert(contentsOf fingerprints: some Sequence<EventFingerprint>, day: String) {
        for fingerprint in fingerprints { insert(fingerprint, day: day) }
    }

    /// Forgets the days before the window of `newestDay`.
    mutating func forget(before newestDay: String) {
        let oldest = Self.previous(newestDay)
        for day in days.keys where day < oldest { days.removeValue(forKey: day) }
    }

    var count: Int { days.values.reduce(0) { $0 + $1.count } }

    /// `YYYY-MM-DD` of the day before (a day name as ``IngestTimestamp`` checked it).
    static func previous(_ day: String) -> String { shifted(day, back: true) }

    /// `YYYY-MM-DD` of the day after (a day name as ``IngestTimestamp`` checked it).
    static func next(_ day: String) -> String { shifted(day, back: false) }

    /// A day that is no calendar date comes back as it is: the writer only names days of checked timestamps, and
    /// any other must never crash it (month 14 indexed past the months, issue 10).
    private static func shifted(_ day: String, back: Bool) -> String {
        let parts = day.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, (1...12).contains(parts[1]), (1...IngestTimestamp.daysIn(month: parts[1], year: parts[0])).contains(parts[2])
        else { return day }
        var (year, month, dayOfMonth) = (parts[0], parts[1], parts[2] + (back ? -1 : 1))
        if dayOfMonth == 0 {
            month -= 1
            if month == 0 {
                month = 12
                year -= 1
            }
            dayOfMonth = IngestTimestamp.daysIn(month: month, year: year)
        } else if dayOfMonth > IngestTimestamp.daysIn(month: month, year: year) {
            dayOfMonth = 1
            month += 1
            if month == 13 {
                month = 1
                year += 1
            }
        }
        return String(format: "%04d-%02d-%02d", year, month, dayOfMonth)
    }
}

/// The fingerprints of one day, in 64 sets chosen by the fingerprint's top bits. A set that grows rehashes only its
/// share: one set of 16 million ids doubling stalled every write of its domain for seconds (measured), 64 sets
/// never hold more than a 64th of that.
struct FingerprintShards {
    private static let shardBits = 6
    private var shards = [Set<EventFingerprint>](repeating: [], count: 1 << shardBits)

    func contains(_ fingerprint: EventFingerprint) -> Bool {
        shards[fingerprint.shard(bits: Self.shardBits)].contains(fingerprint)
    }

    mutating func insert(_ fingerprint: EventFingerprint) {
        shards[fingerprint.shard(bits: Self.shardBits)].insert(fingerprint)
    }

    mutating func reserve(additional count: Int) {
        for index in shards.indices { shards[index].reserveCapacity(shards[index].count + count / shards.count + 1) }
    }

    var count: Int { shards.reduce(0) { $0 + $1.count } }
}
