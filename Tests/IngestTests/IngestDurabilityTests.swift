import Contracts
import Foundation
import MQTT
import TestSupport
import Testing

/// What a 200 promises across a writer killed at the worst moment, across UTC midnight and with bad messages: real
/// writers (some under `strace`, to kill them between `write()` and `fdatasync` or to see their syncs), real broker.
@Suite("Ingest durability (ingest-writer processes under strace, real Mosquitto)", .timeLimit(.minutes(3)))
struct IngestDurabilityTests {
    /// A writer is killed at its first `fdatasync` of these files, after the `write()` of the event.
    private static func killedAtFirstSync(of paths: [String]) -> [String] {
        ["-f", "-qq", "-o", "/dev/null", "-e", "trace=fdatasync", "-e", "inject=fdatasync:signal=SIGKILL:when=1"]
            + paths.flatMap { ["-P", $0] }
    }

    /// One hand-made message for the ingest topic (what the gateway sends): one event `{"v":1}` with `id`.
    private static func message(id: String, receivedAt: String) -> Data {
        IngestBatch.encode([IngestBatch(receivedAt: receivedAt, events: [.init(id: id, json: Array(#"{"v":1}"#.utf8))])])
    }

    @Test("a writer killed between write() and fdatasync: the next one syncs the file and its folders before it answers the retry as stored")
    func killedBeforeSyncThenStartUp() async throws {
        try await IngestStack.with(startWriter: false) { stack in
            let dataDirectory = stack.dataDirectory.resolvingSymlinksInPath()
            let folder = dataDirectory.appendingPathComponent("durable")
            // Today's file, or tomorrow's should the request be received after midnight.
            let now = Date()
            let candidates = [now, now.addingTimeInterval(86_400)].map { folder.appendingPathComponent("\(IngestTimestamp.day($0)).jsonl").path }
            let killed = try await stack.startWriter(strace: Self.killedAtFirstSync(of: candidates))
            let refused = try await stack.post("durable", #"{"v":1}"#, key: "unsynced-1")
            #expect(refused.status == 503)
            #expect(try await killed.process.waitForExit() == 128 + SIGKILL)
            // The line was written, never synced: it is in the page cache only.
            #expect(try stack.ids("durable") == ["unsynced-1"])
            let file = try #require(candidates.first { FileManager.default.fileExists(atPath: $0) })

            let traceDirectory = try makeTemporaryDirectory("ingest-trace")
            defer { try? FileManager.default.removeItem(at: traceDirectory) }
            let trace = traceDirectory.appendingPathComponent("syncs.txt")
            // The next writer's start-up reads today's file: what it indexes must be on disk before the retry counts
            // as stored.
            try await stack.startWriter(strace: ["-f", "--seccomp-bpf", "-qq", "-y", "-e", "trace=fdatasync,fsync", "-o", trace.path])
            let retried = try await stack.post("durable", #"{"v":1}"#, key: "unsynced-1")
            #expect(retried.status == 200)
            #expect(try stack.ids("durable") == ["unsynced-1"])

            let calls = try String(contentsOf: trace, encoding: .utf8).split(separator: "\n")
            let synced = { (call: String, path: String) in calls.contains { $0.contains(" \(call)(") && $0.contains("<\(path)>) = 0") } }
            #expect(synced("fdatasync", file), "the file's lines: \(calls)")
            #expect(synced("fsync", folder.path), "the file's entry in its folder")
            #expect(synced("fsync", dataDirectory.path), "the folder's entry in the data directory")
        }
    }

    @Test("what a writer's catch-up reads counts as stored only once it is synced: a failed sync answers write_failed, never stored")
    func catchUpSyncsBeforeTrusting() async throws {
        try await IngestStack.with(startWriter: false) { stack in
            let clientID = "test-ingest-\(UUID().uuidString.prefix(6))"
            let client = try await stack.broker.connectedClient(clientID: clientID, responseTopic: Topic.replies(clientID: clientID))
            // A day no writer reads at start-up (not today's, not yesterday's): the retry's catch-up reads it.
            let receivedAt = "2026-01-15T12:00:00.000Z"
            let file = stack.dataDirectory.resolvingSymlinksInPath().appendingPathComponent("durable/2026-01-15.jsonl").path
            let killed = try await stack.startWriter(strace: Self.killedAtFirstSync(of: [file]))
            let lost = Task { try? await client.request(Topic.ingest(domain: "durable"), payload: Self.message(id: "unsynced-2", receivedAt: receivedAt), timeout: .seconds(60)) }
            #expect(try await killed.process.waitForExit() == 128 + SIGKILL)
            lost.cancel()
            #expect(try stack.ids("durable") == ["unsynced-2"])

            // The next writer cannot sync that file (strace counts calls per thread, so every call fails, not only
            // the first): what it reads there is never taken as stored.
            let failing = try await stack.startWriter(strace: [
                "-f", "--seccomp-bpf", "-qq", "-o", "/dev/null", "-e", "trace=fdatasync", "-e", "inject=fdatasync:error=EIO", "-P", file,
            ])
            let retry = { () async throws -> IngestReply in
                let reply = try await client.request(Topic.ingest(domain: "durable"), payload: Self.message(id: "unsynced-2", receivedAt: receivedAt), timeout: .seconds(30))
                return try ContractCoding.decode(IngestReply.self, from: reply.payload)
            }
            for _ in 0..<2 {
                let refused = try await retry()
                #expect(refused.error == "write_failed" && refused.stored == nil, "\(refused)")
            }
            #expect(try await IngestStack.metric(#"leitstand_ingest_rejected_total{reason="write_failed"}"#, at: failing.baseURL) == 2)
            await failing.stop()
            // A writer that can sync it finds the event there.
            try await stack.startWriter()
            #expect(try await retry() == .stored(1, duplicates: 1))
            #expect(try stack.ids("durable") == ["unsynced-2"])
            await client.disconnect()
        }
    }

    @Test("a receivedAt that is no real time (month 14, 29 February 2026, 24:00) is refused with invalid_batch, counted and logged; the writer stays up")
    func impossibleDates() async throws {
        try await IngestStack.with { stack in
            let clientID = "test-ingest-\(UUID().uuidString.prefix(6))"
            let client = try await stack.broker.connectedClient(clientID: clientID, responseTopic: Topic.replies(clientID: clientID))
            let writer = try #require(stack.runningWriters.first)
            let send = { (receivedAt: String) async throws -> IngestReply in
                let reply = try await client.request(Topic.ingest(domain: "dates"), payload: Self.message(id: "d-\(receivedAt)", receivedAt: receivedAt), timeout: .seconds(10))
                return try ContractCoding.decode(IngestReply.self, from: reply.payload)
            }
            let impossible = ["2026-14-01T00:00:00.000Z", "2026-00-10T00:00:00.000Z", "2026-02-29T12:00:00.000Z", "2026-11-23T24:00:00.000Z"]
            for receivedAt in impossible {
                let refused = try await send(receivedAt)
                #expect(refused.error == "invalid_batch" && refused.stored == nil, "\(receivedAt): \(refused)")
            }
            #expect(writer.process.isRunning)
            #expect(try await IngestStack.metric(#"leitstand_ingest_rejected_total{reason="invalid_batch"}"#, of: writer) == Double(impossible.count))
            #expect(writer.process.output.components(separatedBy: "malformed ingest message dropped").count - 1 == impossible.count)
            // The next good message is answered, over MQTT and over HTTP.
            #expect(try await send("2024-02-29T23:59:59.999Z") == .stored(1, duplicates: 0))
            #expect(try await stack.post("dates", #"{"fine":true}"#).status == 200)
            #expect(try stack.ids("dates").count == 2)
            await client.disconnect()
        }
    }

    @Test("an event sent again across UTC midnight is stored once: its retry is stored in the next day's file by one writer while the original waits in another, stalled one")
    func retryAcrossMidnight() async throws {
        try await IngestStack.with { stack in
            let clientID = "test-ingest-\(UUID().uuidString.prefix(6))"
            let client = try await stack.broker.connectedClient(clientID: clientID, responseTopic: Topic.replies(clientID: clientID))
            let originalReplies = Topic.replies(clientID: "\(clientID)-original")
            let answers = MessageCollector(try await client.subscribe(originalReplies))
            let topic = Topic.ingest(domain: "midnight")
            let stalled = try #require(stack.runningWriters.first)
            stalled.process.signal(SIGSTOP)
            defer { stalled.process.signal(SIGCONT) }
            // Received at 23:59:59.9 and handed to the only writer, which is stalled: once the broker acknowledges
            // the publish, it has routed the message there.
            try await client.publish(
                topic, payload: Self.message(id: "m-1", receivedAt: "2026-11-23T23:59:59.900Z"),
                // A deadline far off: this is about the day files. (A writer stalled past its asker's deadline drops
                // the original unwritten: IngestDeadlineTests.)
                properties: MQTTPublishProperties(
                    responseTopic: originalReplies, correlationData: Data("original".utf8), deadline: Date().addingTimeInterval(120)
                )
            )
            // The client got no answer in time and sends it again after midnight; a second writer takes it. The
            // broker hands messages to the writers in turn: a copy that goes to the stalled one waits there too.
            try await stack.startWriter()
            var retried: IngestReply?
            try await waitUntil("the other writer stored the retry", timeout: .seconds(60), interval: .milliseconds(10)) {
                let reply = try await client.request(topic, payload: Self.message(id: "m-1", receivedAt: "2026-11-24T00:00:00.400Z"), timeout: .seconds(3))
                retried = try ContractCoding.decode(IngestReply.self, from: reply.payload)
                return true
            }
            #expect(retried == .stored(1, duplicates: 0))
            stalled.process.signal(SIGCONT)
            let answer = try #require(try await answers.waitFor(1, timeout: .seconds(30)).first)
            #expect(try ContractCoding.decode(IngestReply.self, from: answer.payload) == .stored(1, duplicates: 1))
            #expect(try stack.ids("midnight") == ["m-1"])
            answers.stop()
            await client.disconnect()
        }
    }
}
