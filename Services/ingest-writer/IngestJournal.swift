import Contracts
import Foundation
import Logging
import NIOPosix
import Synchronization

/// The data directory: one ``DomainJournal`` per domain folder, the start-up repair and index load, and the bound
/// on events waiting for the disk.
final class IngestJournal: Sendable {
    let dataDirectory: String
    let maximumPendingEvents: Int
    private let journals = Mutex<[String: DomainJournal]>([:])
    private let pendingEvents = Atomic<Int>(0)
    private let opened = Atomic<Bool>(false)
    private let pool: NIOThreadPool
    private let metrics: WriterMetrics
    private let logger: Logger

    init(dataDirectory: String, maximumPendingEvents: Int, pool: NIOThreadPool, metrics: WriterMetrics, logger: Logger) {
        self.dataDirectory = dataDirectory
        self.maximumPendingEvents = maximumPendingEvents
        self.pool = pool
        self.metrics = metrics
        self.logger = logger
    }

    /// Events accepted and not yet answered.
    var pendingEventCount: Int { pendingEvents.load(ordering: .relaxed) }

    /// True once ``open()`` has repaired and indexed the directory.
    var isOpen: Bool { opened.load(ordering: .acquiring) }

    /// Cuts torn last lines off every day file, and indexes the ids of yesterday's, today's and (if there is one)
    /// tomorrow's files of every domain, synced first, before the first event is taken. A directory restored from
    /// a backup is just a directory.
    func open(now: Date = Date()) async throws {
        let started = ContinuousClock.now
        let today = IngestTimestamp.day(now)
        let (domains, torn) = try await pool.runIfActive { [self] () throws -> ([DomainJournal], Int) in
            var domains: [DomainJournal] = []
            var torn = 0
            let fileManager = FileManager.default
            for name in try fileManager.contentsOfDirectory(atPath: dataDirectory).sorted() where IngestDomain.isValid(name) {
                let directory = "\(dataDirectory)/\(name)"
                var isDirectory: ObjCBool = false
                guard fileManager.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
                for file in try fileManager.contentsOfDirectory(atPath: directory) where file.hasSuffix(".jsonl") {
                    let cut = try DayFile.repairTornTail(path: "\(directory)/\(file)")
                    if cut > 0 {
                        torn += 1
                        metrics.tornLineRepaired()
                        logger.warning("cut off a torn last line", metadata: ["ingest.file": "\(directory)/\(file)", "ingest.bytes": "\(cut)"])
                    }
                }
                let files = DomainFiles(domain: name, dataDirectory: dataDirectory, metrics: metrics, logger: logger)
                try files.load(day: today)
                domains.append(DomainJournal(files: files, pool: pool))
            }
            return (domains, torn)
        }
        let indexed = journals.withLock { journals in
            for journal in domains { journals[journal.domain] = journal }
            return domains.count
        }
        opened.store(true, ordering: .releasing)
        logger.info("data directory open", metadata: [
            "ingest.dataDir": "\(dataDirectory)", "ingest.domains": "\(indexed)", "ingest.tornLines": "\(torn)",
            "ingest.openSeconds": "\(ContinuousClock.now - started)",
        ])
    }

    /// Writes the batches (of one message) and answers only when their events are on disk; `writer_busy` at once
    /// when too many events already wait for the disk.
    func append(_ batches: [IngestBatch], domain: String, deadline: Date) async -> IngestReply {
        let count = batches.reduce(0) { $0 + $1.events.count }
        let before = pendingEvents.add(count, ordering: .relaxed).oldValue
        defer {
            let after = pendingEvents.subtract(count, ordering: .relaxed).newValue
            metrics.pending(after)
        }
        // A batch bigger than the bound still goes through when nothing else waits.
        if before > 0 && before + count > maximumPendingEvents {
            metrics.rejected("writer_busy", events: count)
            return .refused("writer_busy", message: "too many events are waiting for the disk", retryAfterSeconds: 1)
        }
        metrics.pending(before + count)
        return await journal(for: domain).append(batches, deadline: deadline)
    }

    private func journal(for domain: String) -> DomainJournal {
        journals.withLock { journals in
            if let journal = journals[domain] { return journal }
            let journal = DomainJournal(
                files: DomainFiles(domain: domain, dataDirectory: dataDirectory, metrics: metrics, logger: logger),
                pool: pool
            )
            journals[domain] = journal
            return journal
        }
    }
}
