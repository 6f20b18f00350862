import Contracts
import Foundation
import Logging
import NIOPosix
import Testing

@testable import ingest_writer

/// The writer's file handling, against real files in a temporary folder.
@Suite("ingest-writer day files")
struct DomainFilesTests {
    private let dataDirectory: URL

    init() throws {
        dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("writer-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
    }

    private func files(_ domain: String = "sensors") -> DomainFiles {
        DomainFiles(domain: domain, dataDirectory: dataDirectory.path, metrics: WriterMetrics(), logger: Logger(label: "test"))
    }

    private func batch(_ ids: [String], at receivedAt: String = "2026-11-23T10:00:00.000Z") -> IngestBatch {
        IngestBatch(receivedAt: receivedAt, events: ids.map { .init(id: $0, json: Array(#"{"id":"\#($0)"}"#.utf8)) })
    }

    private func lines(_ day: String, domain: String = "sensors") throws -> [String] {
        let text = try String(contentsOf: dataDirectory.appendingPathComponent("\(domain)/\(day).jsonl"), encoding: .utf8)
        return text.split(separator: "\n").map { String(IngestRecord.id(ofLine: Array($0.utf8)) ?? "<not a record>") }
    }

    @Test("a group commit answers each batch, and duplicates within the group and across groups are not written")
    func groupCommitAndDedupe() throws {
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let files = files()
        let replies = files.write([batch(["a", "b"]), batch(["b", "c"])])
        #expect(replies == [.stored(2, duplicates: 0), .stored(2, duplicates: 1)])
        #expect(files.write([batch(["a", "d"])]) == [.stored(2, duplicates: 1)])
        #expect(try lines("2026-11-23") == ["a", "b", "c", "d"])
    }

    @Test("the dedupe window is the event's day and the day before; older days are forgotten")
    func dedupeWindow() throws {
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let files = files()
        _ = files.write([batch(["x"], at: "2026-02-28T23:59:59.999Z")])
        // The next day: still a duplicate.
        #expect(files.write([batch(["x"], at: "2026-03-01T00:00:00.001Z")]) == [.stored(1, duplicates: 1)])
        // Two days later: outside the window, written again.
        #expect(files.write([batch(["x"], at: "2026-03-02T00:00:00.001Z")]) == [.stored(1, duplicates: 0)])
        #expect(try lines("2026-02-28") == ["x"])
        #expect(try lines("2026-03-02") == ["x"])
    }

    @Test("the retry written after midnight comes first: the original of the day before is a duplicate")
    func retryBeforeOriginalAcrossMidnight() throws {
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let files = files()
        #expect(files.write([batch(["k"], at: "2026-11-24T00:00:00.400Z")]) == [.stored(1, duplicates: 0)])
        #expect(files.write([batch(["k"], at: "2026-11-23T23:59:59.900Z")]) == [.stored(1, duplicates: 1)])
        #expect(try lines("2026-11-24") == ["k"])
        #expect(try lines("2026-11-23").isEmpty)
        // Two days apart is outside the window, in either order.
        #expect(files.write([batch(["far"], at: "2026-11-25T08:00:00.000Z")]) == [.stored(1, duplicates: 0)])
        #expect(files.write([batch(["far"], at: "2026-11-23T08:00:00.000Z")]) == [.stored(1, duplicates: 0)])
    }

    @Test("another writer stored the retry in the next day's file: the original is a duplicate here")
    func anotherWritersRetryAcrossMidnight() throws {
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let stalled = files()
        let other = files()
        _ = stalled.write([batch(["before"], at: "2026-11-23T23:59:58.000Z")])
        #expect(other.write([batch(["k"], at: "2026-11-24T00:00:00.400Z")]) == [.stored(1, duplicates: 0)])
        #expect(stalled.write([batch(["k"], at: "2026-11-23T23:59:59.900Z")]) == [.stored(1, duplicates: 1)])
        #expect(try lines("2026-11-23") == ["before"])
        #expect(try lines("2026-11-24") == ["k"])
    }

    @Test("a restarted writer finds the ids of today and yesterday on disk")
    func indexRebuiltFromFiles() throws {
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        _ = files().write([batch(["y1"], at: "2026-11-22T08:00:00.000Z"), batch(["t1"], at: "2026-11-23T08:00:00.000Z")])
        let restarted = files()
        try restarted.load(day: "2026-11-23")
        #expect(restarted.indexedIDs == 2)
        #expect(restarted.write([batch(["y1", "t1", "t2"], at: "2026-11-23T09:00:00.000Z")]) == [.stored(3, duplicates: 2)])
    }

    @Test("a torn line left by another writer is cut off before appending")
    func tornLineWhileRunning() throws {
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let files = files()
        _ = files.write([batch(["a"])])
        let path = dataDirectory.appendingPathComponent("sensors/2026-11-23.jsonl")
        let handle = try FileHandle(forWritingTo: path)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"id":"half","receivedAt":"2026-11-"#.utf8))
        try handle.close()
        _ = files.write([batch(["b"])])
        #expect(try lines("2026-11-23") == ["a", "b"])
    }

    @Test("lines appended by another writer are read, and their ids are duplicates here")
    func anotherWritersLines() throws {
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let mine = files()
        let theirs = files()
        _ = mine.write([batch(["a"])])
        _ = theirs.write([batch(["b"])])
        #expect(mine.write([batch(["b", "c"])]) == [.stored(2, duplicates: 1)])
        #expect(try lines("2026-11-23") == ["a", "b", "c"])
    }

    @Test("a day file moved away by an operator is created again at its path, not written to where nobody looks")
    func movedFile() throws {
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let files = files()
        _ = files.write([batch(["a"])])
        let path = dataDirectory.appendingPathComponent("sensors/2026-11-23.jsonl")
        try FileManager.default.moveItem(at: path, to: dataDirectory.appendingPathComponent("sensors/2026-11-23.jsonl.1"))
        #expect(files.write([batch(["a", "b"])]) == [.stored(2, duplicates: 1)])
        #expect(try lines("2026-11-23") == ["b"])
    }

    @Test("repairing a file that is not open cuts exactly the partial last line")
    func repairTornTail() throws {
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let path = dataDirectory.appendingPathComponent("f.jsonl").path
        try Data("one\ntwo\nthr".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try DayFile.repairTornTail(path: path) == 3)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "one\ntwo\n")
        #expect(try DayFile.repairTornTail(path: path) == 0)
        let big = String(repeating: "x", count: 200_000)
        try Data(big.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try DayFile.repairTornTail(path: path) == 200_000)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).isEmpty)
    }

    @Test("the day before, across months, years and leap days")
    func previousDay() {
        #expect(DedupeIndex.previous("2026-11-23") == "2026-11-22")
        #expect(DedupeIndex.previous("2026-03-01") == "2026-02-28")
        #expect(DedupeIndex.previous("2024-03-01") == "2024-02-29")
        #expect(DedupeIndex.previous("2000-03-01") == "2000-02-29")
        #expect(DedupeIndex.previous("2100-03-01") == "2100-02-28")
        #expect(DedupeIndex.previous("2027-01-01") == "2026-12-31")
        #expect(DedupeIndex.previous("2026-05-01") == "2026-04-30")
    }

    @Test("the day after, across months, years and leap days; a name that is no date is never shifted, never a crash")
    func nextDay() {
        #expect(DedupeIndex.next("2026-11-23") == "2026-11-24")
        #expect(DedupeIndex.next("2026-02-28") == "2026-03-01")
        #expect(DedupeIndex.next("2024-02-28") == "2024-02-29")
        #expect(DedupeIndex.next("2024-02-29") == "2024-03-01")
        #expect(DedupeIndex.next("2026-12-31") == "2027-01-01")
        #expect(DedupeIndex.next("2026-04-30") == "2026-05-01")
        for name in ["2026-14-01", "2026-00-10", "2026-02-30", "nonsense"] {
            #expect(DedupeIndex.previous(name) == name && DedupeIndex.next(name) == name)
        }
    }

    @Test("past the bound on events waiting for the disk, the writer answers writer_busy at once")
    func pendingBound() async throws {
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let journal = IngestJournal(
            dataDirectory: dataDirectory.path, maximumPendingEvents: 3, pool: pool, metrics: WriterMetrics(), logger: Logger(label: "test")
        )
        // The only I/O thread is held, so whatever is accepted waits for the disk.
        let release = DispatchSemaphore(value: 0)
        pool.submit { _ in release.wait() }
        let deadline = Date().addingTimeInterval(60)
        let first = Task { await journal.append([batch(["a", "b"])], domain: "sensors", deadline: deadline) }
        try await Task.sleep(for: .milliseconds(200))
        let refused = await journal.append([batch(["c", "d"])], domain: "sensors", deadline: deadline)
        #expect(refused.error == "writer_busy" && refused.retryAfterSeconds == 1)
        release.signal()
        #expect(await first.value == .stored(2, duplicates: 0))
        // Alone, a batch larger than the bound still goes through.
        #expect(await journal.append([batch(["e", "f", "g", "h"])], domain: "sensors", deadline: deadline) == .stored(4, duplicates: 0))
        try await pool.shutdownGracefully()
    }

    @Test("a message whose deadline passes while it waits for the disk is not written (its asker was told 503; fails before: written)")
    func deadlinePassedWhileWaiting() async throws {
        defer { try? FileManager.default.removeItem(at: dataDirectory) }
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let journal = IngestJournal(
            dataDirectory: dataDirectory.path, maximumPendingEvents: 100, pool: pool, metrics: WriterMetrics(), logger: Logger(label: "test")
        )
        let release = DispatchSemaphore(value: 0)
        pool.submit { _ in release.wait() }
        let soon = Date().addingTimeInterval(0.2)
        let late = Task { await journal.append([batch(["late-1"])], domain: "sensors", deadline: soon) }
        let timely = Task { await journal.append([batch(["timely-1"])], domain: "sensors", deadline: Date().addingTimeInterval(60)) }
        // Both wait for the disk, and one's deadline passes meanwhile.
        while journal.pendingEventCount < 2 { try await Task.sleep(for: .milliseconds(10)) }
        while Date() <= soon { try await Task.sleep(for: .milliseconds(10)) }
        release.signal()
        #expect(await late.value.error == "late")
        #expect(await timely.value == .stored(1, duplicates: 0))
        #expect(try lines("2026-11-23") == ["timely-1"])
        try await pool.shutdownGracefully()
    }
}
