import Contracts
import Foundation
import Logging

/// The open day files and the dedupe index of one domain. Used by one flush at a time (``DomainJournal``).
///
/// An event's id is looked for in its own day file and in the files of the day before and the day after: a request
/// received at 23:59:59.9 that waits in a stalled writer while its retry (received after midnight) is stored by
/// another writer must still be found, and so must the retry that one writer is given before the original
/// (issue 10 stored both). Several writers see one another's lines only under the domain folder's lock, see
/// ``write(_:day:)``.
final class DomainFiles {
    let domain: String
    let directory: String
    private let dataDirectory: String
    /// The domain folder, open once its entry in the data directory is synced; `flock`ed while a group is checked
    /// and appended.
    private var folder: Int32 = -1
    private var files: [String: DayFile] = [:]
    private var index = DedupeIndex()
    /// The newest day written to: the window is kept relative to it, also when a late event for an older day comes.
    private var newestDay = ""
    private let metrics: WriterMetrics
    private let logger: Logger

    init(domain: String, dataDirectory: String, metrics: WriterMetrics, logger: Logger) {
        self.domain = domain
        self.dataDirectory = dataDirectory
        self.directory = "\(dataDirectory)/\(domain)"
        self.metrics = metrics
        self.logger = logger
    }

    deinit { if folder >= 0 { close(folder) } }

    /// Reads the ids of `day` and the days around it into the dedupe index (at start-up, before any event arrives).
    func load(day: String) throws(IngestIOError) {
        try openFolder()
        for name in [DedupeIndex.previous(day), day, DedupeIndex.next(day)] {
            guard let file = try file(for: name, create: false) else { continue }
            try file.withLock { () throws(IngestIOError) in try catchUp(file) }
        }
    }

    var indexedIDs: Int { index.count }

    /// Writes the batches (one group commit) and answers each. A batch's events all go to the day file of its
    /// `receivedAt`; an event whose id is already on disk in the window, or earlier in this group, is a duplicate.
    func write(_ batches: [IngestBatch]) -> [IngestReply] {
        // `IngestBatch.decodeAll` has checked every receivedAt; a batch without a day would name no file.
        var replies = [IngestReply](
            repeating: .refused("invalid_batch", message: "receivedAt is not a real time as YYYY-MM-DDTHH:MM:SS.sssZ (UTC)"),
            count: batches.count
        )
        var byDay: [String: [Int]] = [:]
        for (index, batch) in batches.enumerated() {
            if let day = IngestTimestamp.day(of: batch.receivedAt) { byDay[String(day), default: []].append(index) }
        }
        for (day, members) in byDay.sorted(by: { $0.key < $1.key }) {
            do {
                let outcome = try write(members.map { batches[$0] }, day: day)
                for (member, reply) in zip(members, outcome) { replies[member] = reply }
            } catch {
                logger.error("ingest write failed", metadata: ["ingest.domain": "\(domain)", "ingest.day": "\(day)", "error": "\(error)"])
                let events = members.reduce(0) { $0 + batches[$1].events.count }
                metrics.rejected("write_failed", events: events)
                for member in members {
                    replies[member] = .refused("write_failed", message: "the events could not be written durably", retryAfterSeconds: 5)
                }
            }
        }
        if let newest = byDay.keys.max(), newest > newestDay {
            newestDay = newest
            forget(before: newest)
        }
        return replies
    }

    /// Checks and appends one day's batches under the domain folder's lock, which every writer of the data directory
    /// takes for that: what another writer appended to any of the three files is read before the check, and nothing
    /// is appended to them between the check and the append. Locking the day files one after the other left a gap:
    /// the original could pass its check of the next day's file just before the retry was appended there.
    private func write(_ batches: [IngestBatch], day: String) throws(IngestIOError) -> [IngestReply] {
        try openFolder()
        let window = DedupeIndex.window(of: day)
        // A file this writer has not read yet (the day before of a late event: a whole day, ~1 s per million lines)
        // is read before the domain's lock, so that the other writers of the domain do not wait for that.
        for name in window where files[name] == nil {
            guard let file = try file(for: name, create: false) else { continue }
            try file.withLock { () throws(IngestIOError) in try catchUp(file) }
        }
        return try withFolderLock { () throws(IngestIOError) -> [IngestReply] in
            for name in window where name != day {
                guard let neighbour = try file(for: name, create: false) else { continue }
                try neighbour.withLock { () throws(IngestIOError) in try catchUp(neighbour) }
            }
            guard let file = try file(for: day, create: true) else { return [] }
            return try file.withLock { () throws(IngestIOError) -> [IngestReply] in
                try catchUp(file)
                return try append(batches, to: file, window: window)
            }
        }
    }

    /// Appends the events whose ids are not on disk in the window or earlier in this group, and answers each batch.
    private func append(_ batches: [IngestBatch], to file: DayFile, window: [String]) throws(IngestIOError) -> [IngestReply] {
        var lines: [UInt8] = []
        var written: [EventFingerprint] = []
        var inGroup = Set<EventFingerprint>()
        var replies: [IngestReply] = []
        for batch in batches {
            var duplicates = 0
            for event in batch.events {
                let fingerprint = EventFingerprint(id: event.id)
                guard !index.contains(fingerprint, inAnyOf: window), inGroup.insert(fingerprint).inserted else {
                    duplicates += 1
                    continue
                }
                IngestRecord.append(id: event.id, receivedAt: batch.receivedAt, domain: domain, json: event.json, to: &lines)
                written.append(fingerprint)
            }
            replies.append(.stored(batch.events.count, duplicates: duplicates))
        }
        let syncDuration = try file.append(lines)
        index.insert(contentsOf: written, day: file.day)
        metrics.groupWritten(
            events: written.count,
            bytes: lines.count,
            duplicates: batches.reduce(0) { $0 + $1.events.count } - written.count,
            sync: syncDuration
        )
        return replies
    }

    /// Indexes what was appended since the last look (synced first, see ``DayFile/catchUp(_:)``), and counts a
    /// torn line it had to cut off.
    private func catchUp(_ file: DayFile) throws(IngestIOError) {
        let day = file.day
        // Lines are ~100 bytes or more: reserving for unread bytes / 100 ids avoids rehashing while reading.
        let unread = try file.unreadBytes
        if unread > 1 << 20 { index.reserve(Int(unread / 100), day: day) }
        let found = try file.catchUp { id in index.insert(EventFingerprint(idBytes: id), day: day) }
        if found.readBytes > 0 { metrics.catchUpSynced() }
        if found.tornBytes > 0 {
            metrics.tornLineRepaired()
            logger.warning("cut off a torn last line", metadata: ["ingest.file": "\(file.path)", "ingest.bytes": "\(found.tornBytes)"])
        }
    }

    /// Creates the domain folder if needed, syncs its entry in the data directory and opens it for the lock. The
    /// folder is durable only once that entry is synced, and whoever created it may have been killed between its
    /// `mkdir` and the sync: every writer syncs it once, before it trusts or acknowledges anything in the folder.
    private func openFolder() throws(IngestIOError) {
        guard folder < 0 else { return }
        if mkdir(directory, 0o750) != 0 && errno != EEXIST { throw IngestIOError("mkdir", directory) }
        try DayFile.syncDirectory(dataDirectory)
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw IngestIOError("open", directory) }
        folder = descriptor
    }

    /// Runs `body` holding the domain folder's exclusive lock (waiting for another writer's group to finish).
    private func withFolderLock<Result>(_ body: () throws(IngestIOError) -> Result) throws(IngestIOError) -> Result {
        while flock(folder, LOCK_EX) != 0 {
            guard errno == EINTR else { throw IngestIOError("lock", directory) }
        }
        defer { flock(folder, LOCK_UN) }
        return try body()
    }

    /// The open file of a day, opened (again, if the path now names another file) when needed.
    private func file(for day: String, create: Bool) throws(IngestIOError) -> DayFile? {
        if let file = files[day], file.isStillAtPath { return file }
        guard let file = try DayFile.open(directory: directory, day: day, create: create) else { return nil }
        if files[day] != nil {
            logger.warning("day file was replaced; reading it again", metadata: ["ingest.file": "\(file.path)"])
        }
        files[day] = file
        return file
    }

    private func forget(before newestDay: String) {
        let oldest = DedupeIndex.previous(newestDay)
        files = files.filter { $0.key >= oldest }
        index.forget(before: newestDay)
    }
}
