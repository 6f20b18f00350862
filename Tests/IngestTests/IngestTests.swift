import Contracts
import Foundation
import MQTT
import Synchronization
import TestSupport
import Testing

/// Ingest end to end: HTTP → api-gateway → MQTT → ingest-writer → fsync'd JSONL, with real processes.
@Suite("Ingest (api-gateway + ingest-writer processes, real Mosquitto)", .timeLimit(.minutes(3)))
struct IngestTests {
    private static func errorCode(_ probe: HTTPProbe) -> String? { (try? probe.json())?["error"] as? String }

    @Test("every error the contract names, with its code")
    func errors() async throws {
        try await IngestStack.with(gateway: ["LEITSTAND_INGEST_MAX_BYTES": "1024"]) { stack in
            let noToken = try await stack.post("sensors", "{}", headers: [:])
            #expect(noToken.status == 401 && Self.errorCode(noToken) == "unauthorized")
            let wrongToken = try await stack.post("sensors", "{}", headers: ["X-Auth-Token": "test-ingest-token-4712"])
            #expect(wrongToken.status == 401 && Self.errorCode(wrongToken) == "unauthorized")
            let wrongBearer = try await stack.post("sensors", "{}", headers: ["Authorization": "Basic \(ServiceProcess.ingestToken)"])
            #expect(wrongBearer.status == 401)

            for domain in ["Sensors", "a_b", String(repeating: "a", count: 65), "%2E%2E"] {
                let probe = try await stack.post(domain, "{}")
                #expect(probe.status == 400 && Self.errorCode(probe) == "invalid_domain", "\(domain)")
            }
            for body in ["", "{", "{\"a\":1,}", "[1 2]", "{} {}", "nope"] {
                let probe = try await stack.post("sensors", body)
                #expect(probe.status == 400 && Self.errorCode(probe) == "invalid_json", "\(body)")
            }
            let tooLarge = try await stack.post("sensors", "[" + String(repeating: "{\"k\":1},", count: 200) + "{}]")
            #expect(tooLarge.status == 413 && Self.errorCode(tooLarge) == "payload_too_large")
            let badKey = try await stack.post("sensors", "{}", key: "has space")
            #expect(badKey.status == 400 && Self.errorCode(badKey) == "invalid_idempotency_key")
            #expect(try stack.lines("sensors").isEmpty)
            // Refusals are counted by reason.
            let rejected = { (reason: String) in
                try await IngestStack.metric(#"leitstand_gateway_ingest_rejected_total{reason="\#(reason)"}"#, of: stack.gateway)
            }
            let expected = ["unauthorized": 3.0, "invalid_domain": 4, "invalid_json": 6, "payload_too_large": 1, "invalid_idempotency_key": 1]
            for (reason, count) in expected {
                #expect(try await rejected(reason) == count, "\(reason)")
            }
        }
    }

    @Test("a single event and a batch are stored as the contract's lines, data exactly as sent")
    func linesAndBatches() async throws {
        try await IngestStack.with { stack in
            let single = try await stack.post("sensors", "{ \"temp\" : 21.50, \"note\": \"a  b\\u00e9\" }", headers: ["X-Auth-Token": ServiceProcess.ingestToken])
            #expect(single.status == 200)
            #expect(try single.json() as NSDictionary == ["status": "stored", "count": 1] as NSDictionary)

            let batch = try await stack.post("sensors", #"[{"n":1},{"n":2},{"n":3}]"#, key: "batch-7")
            #expect(try batch.json() as NSDictionary == ["status": "stored", "count": 3] as NSDictionary)
            // An array that is not all objects is one event; an empty batch stores nothing.
            #expect(try await stack.post("sensors", "[1, {\"n\":4}]").json()["count"] as? Int == 1)
            #expect(try await stack.post("sensors", "[]").json()["count"] as? Int == 0)

            let lines = try stack.lines("sensors")
            #expect(lines.count == 5)
            let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
            #expect(Set(first.keys) == ["id", "receivedAt", "domain", "data"])
            #expect(first["domain"] as? String == "sensors")
            #expect((first["receivedAt"] as? String)?.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil)
            #expect(lines[0].hasSuffix(#","data":{"temp":21.50,"note":"a  b\u00e9"}}"#))
            #expect(try stack.ids("sensors")[1...3] == ["batch-7#0", "batch-7#1", "batch-7#2"])
            #expect(lines[4].hasSuffix(#""data":[1,{"n":4}]}"#))
            // One file per domain and UTC day.
            let day = String((first["receivedAt"] as? String ?? "").prefix(10))
            #expect(FileManager.default.fileExists(atPath: stack.dataDirectory.appendingPathComponent("sensors/\(day).jsonl").path))
        }
    }

    @Test("the largest batch goes through the broker's packet limit; one event more, or ids too long, is 413")
    func largestBatch() async throws {
        // 10 000 events to parse, send and fsync: give it time when every other test runs beside it.
        try await IngestStack.with(gateway: ["LEITSTAND_INGEST_TIMEOUT_MS": "15000"]) { stack in
            let event = #"{"n":1234,"pad":"\#(String(repeating: "x", count: 80))"}"#
            let largest = "[" + Array(repeating: event, count: 10_000).joined(separator: ",") + "]"
            #expect(largest.utf8.count < 1 << 20)
            let stored = try await stack.post("big", largest, key: "big")
            let count = try stored.json()["count"] as? Int
            #expect(stored.status == 200 && count == 10_000, "\(stored.status) \(stored.text)")
            #expect(try stack.ids("big").count == 10_000)

            let oneMore = try await stack.post("big", "[" + Array(repeating: "{}", count: 10_001).joined(separator: ",") + "]")
            #expect(oneMore.status == 413 && Self.errorCode(oneMore) == "payload_too_large")
            // 10 000 ids of 126 characters do not fit into one message with the events: refused, not sent.
            let longIDs = try await stack.post("big", largest, key: String(repeating: "k", count: 120))
            #expect(longIDs.status == 413 && Self.errorCode(longIDs) == "payload_too_large")
            // The gateway's broker connection survived: ingest still works.
            #expect(try await stack.post("big", "{}").status == 200)
        }
    }

    @Test("a malformed message on an ingest topic is refused with invalid_batch, counted, and writes nothing; the writer goes on")
    func malformedMessage() async throws {
        try await IngestStack.with { stack in
            let clientID = "impostor-\(UUID().uuidString.prefix(6))"
            let client = try await stack.broker.connectedClient(clientID: clientID, responseTopic: Topic.replies(clientID: clientID))
            let writer = try #require(stack.runningWriters.first)
            for payload in ["not a batch", #"{"ids":["a"],"receivedAt":"../../etc"}"# + "\n{}", #"{"ids":["a","b"],"receivedAt":"2026-11-23T14:05:09.123Z"}"# + "\n{}"] {
                let message = try await client.request(Topic.ingest(domain: "bad"), payload: Data(payload.utf8), timeout: .seconds(5))
                let reply = try ContractCoding.decode(IngestReply.self, from: message.payload)
                #expect(reply.error == "invalid_batch" && reply.stored == nil, "\(payload)")
            }
            #expect(try await IngestStack.metric(#"leitstand_ingest_rejected_total{reason="invalid_batch"}"#, of: writer) == 3)
            #expect(try stack.lines("bad").isEmpty)
            #expect(writer.process.isRunning)
            #expect(try await stack.post("bad", #"{"fine":true}"#).status == 200)
            await client.disconnect()
        }
    }

    @Test("the same Idempotency-Key twice is one line (single events and batches)")
    func idempotency() async throws {
        try await IngestStack.with { stack in
            for _ in 0..<3 {
                #expect(try await stack.post("orders", #"{"order":1}"#, key: "order-1").status == 200)
                #expect(try await stack.post("orders", #"[{"line":1},{"line":2}]"#, key: "order-1-lines").status == 200)
            }
            #expect(try stack.ids("orders") == ["order-1", "order-1-lines#0", "order-1-lines#1"])
            let writer = try #require(stack.runningWriters.first)
            #expect(try await IngestStack.metric("leitstand_ingest_duplicates_total", of: writer) == 6)
        }
    }

    @Test(
        "the writer stopped during concurrent requests (SIGKILL, or SIGTERM which drains and exits 0): every acknowledged event is on disk exactly once",
        arguments: [SIGKILL, SIGTERM]
    )
    func writerStopped(by signal: Int32) async throws {
        try await IngestStack.with { stack in
            let tally = Tally()
            let clients = 6
            let perClient = 60
            let clientsDone = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for client in 0..<clients {
                        group.addTask {
                            for index in 0..<perClient {
                                let key = "c\(client)-e\(index)"
                                // Like a good client: retry with the same key until it is acknowledged.
                                while true {
                                    let probe = try await stack.post("stream", #"{"client":\#(client),"index":\#(index)}"#, key: key)
                                    if probe.status == 200 {
                                        tally.acknowledged.withLock { _ = $0.insert(key) }
                                        break
                                    }
                                    #expect(probe.status == 503 && Self.errorCode(probe) == "writer_unavailable")
                                    #expect(probe.headers["retry-after"] != nil)
                                    tally.refusals.add(1, ordering: .relaxed)
                                    try await Task.sleep(for: .milliseconds(50))
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            try await waitUntil("some events are stored") { tally.acknowledged.withLock { $0.count } >= 40 }
            let writer = try #require(stack.runningWriters.first)
            writer.process.signal(signal)
            let exitStatus = try await writer.process.waitForExit()
            if signal == SIGTERM { #expect(exitStatus == 0, "a drained writer exits 0") }
            try await Task.sleep(for: .milliseconds(500))
            try await stack.startWriter()
            try await clientsDone.value

            let ids = try stack.ids("stream")
            let expected = Set((0..<clients).flatMap { client in (0..<perClient).map { "c\(client)-e\($0)" } })
            #expect(tally.acknowledged.withLock { $0 } == expected)
            #expect(ids.count == expected.count, "every event exactly once")
            #expect(Set(ids) == expected)
            #expect(tally.refusals.load(ordering: .relaxed) > 0, "the kill was noticed by clients")
        }
    }

    /// What the clients of ``writerStopped(by:)`` saw.
    private final class Tally: Sendable {
        let acknowledged = Mutex<Set<String>>([])
        let refusals = Atomic<Int>(0)
    }

    @Test("the broker stopped: 503 writer_unavailable at once; ingest works again when it is back")
    func brokerDown() async throws {
        // A long timeout, so "at once" is far from it even on a loaded CI machine.
        try await IngestStack.with(gateway: ["LEITSTAND_INGEST_TIMEOUT_MS": "30000"]) { stack in
            #expect(try await stack.post("sensors", #"{"before":1}"#).status == 200)
            try await stack.broker.stop()
            try await waitUntil("the gateway noticed") {
                (try? await HTTPProbe.get("\(stack.gateway.baseURL)/health"))?.status == 503
            }
            let started = ContinuousClock.now
            let refused = try await stack.post("sensors", #"{"during":1}"#)
            #expect(refused.status == 503 && Self.errorCode(refused) == "writer_unavailable")
            #expect(refused.headers["retry-after"] == "2")
            #expect(ContinuousClock.now - started < .seconds(5))

            try await stack.broker.start()
            try await waitUntil("ingest works again", timeout: .seconds(20)) {
                (try? await stack.post("sensors", #"{"after":1}"#, key: "after-1"))?.status == 200
            }
            #expect(try stack.ids("sensors").filter { !$0.hasPrefix("after-") }.count == 1)
        }
    }

    @Test("no writer running: 503 at once (the broker says nobody subscribes), not after the timeout")
    func writerDown() async throws {
        try await IngestStack.with(gateway: ["LEITSTAND_INGEST_TIMEOUT_MS": "30000"], startWriter: false) { stack in
            let started = ContinuousClock.now
            let refused = try await stack.post("sensors", #"{"a":1}"#)
            #expect(refused.status == 503 && Self.errorCode(refused) == "writer_unavailable")
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    @Test("a stalled writer: requests past the in-flight bound get 503 writer_busy at once, the others are answered once it moves")
    func backpressure() async throws {
        try await IngestStack.with(gateway: ["LEITSTAND_INGEST_MAX_INFLIGHT": "2", "LEITSTAND_INGEST_TIMEOUT_MS": "30000"]) { stack in
            let writer = try #require(stack.runningWriters.first)
            writer.process.signal(SIGSTOP)
            let waiting = (0..<2).map { index in Task { try await stack.post("slow", #"{"n":\#(index)}"#) } }
            try await Task.sleep(for: .milliseconds(400))
            let started = ContinuousClock.now
            let busy = try await stack.post("slow", #"{"n":2}"#)
            #expect(busy.status == 503 && Self.errorCode(busy) == "writer_busy" && busy.headers["retry-after"] == "1")
            #expect((try? busy.json())?["retryAfterSeconds"] as? Int == 1)
            #expect(ContinuousClock.now - started < .seconds(5))
            writer.process.signal(SIGCONT)
            for request in waiting { #expect(try await request.value.status == 200) }
            #expect(try stack.ids("slow").count == 2)
        }
    }

    @Test("a writer that waits too long for the disk is a 503 after the timeout, never a 200")
    func timeout() async throws {
        try await IngestStack.with(gateway: ["LEITSTAND_INGEST_TIMEOUT_MS": "500"]) { stack in
            let writer = try #require(stack.runningWriters.first)
            writer.process.signal(SIGSTOP)
            defer { writer.process.signal(SIGCONT) }
            let started = ContinuousClock.now
            let refused = try await stack.post("slow", #"{"n":1}"#, key: "late-1")
            let elapsed = ContinuousClock.now - started
            #expect(refused.status == 503 && Self.errorCode(refused) == "writer_unavailable")
            #expect(elapsed >= .milliseconds(500) && elapsed < .seconds(3))
        }
    }

    @Test("a request queued behind messages under way still gets its answer within its own timeout")
    func timeoutWhileQueued() async throws {
        try await IngestStack.with(gateway: ["LEITSTAND_INGEST_TIMEOUT_MS": "4000"]) { stack in
            let writer = try #require(stack.runningWriters.first)
            writer.process.signal(SIGSTOP)
            defer { writer.process.signal(SIGCONT) }
            // Two messages under way (the most per domain), then a third request that has to queue behind them.
            let underWay = (0..<2).map { index in Task { try await stack.post("slow", #"{"n":\#(index)}"#) } }
            try await Task.sleep(for: .seconds(2))
            let started = ContinuousClock.now
            let queued = try await stack.post("slow", #"{"n":2}"#)
            let elapsed = ContinuousClock.now - started
            #expect(queued.status == 503 && Self.errorCode(queued) == "writer_unavailable")
            // Its own 4 s, not the 2 s left of the messages ahead plus a full timeout of its own message (6 s).
            #expect(elapsed >= .milliseconds(3_900) && elapsed < .seconds(5), "\(elapsed)")
            for request in underWay { #expect(try await request.value.status == 503) }
        }
    }

    @Test("a restored directory with a torn last line: repaired on start, its ids still count as written")
    func restoredDirectoryWithTornLine() async throws {
        let today = String(ISO8601DateFormatter().string(from: Date()).prefix(10))
        try await IngestStack.with(prepare: { directory in
            let folder = directory.appendingPathComponent("sensors")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let restored = """
                {"id":"old-1","receivedAt":"\(today)T00:00:01.000Z","domain":"sensors","data":{"v":1}}
                {"id":"old-2","receivedAt":"\(today)T00:00:02.000Z","domain":"sensors","data":{"v":2}}
                {"id":"torn","receivedAt":"\(today)T00:00:0
                """
            try Data(restored.utf8).write(to: folder.appendingPathComponent("\(today).jsonl"))
        }) { stack in
            #expect(try stack.ids("sensors") == ["old-1", "old-2"])
            let writer = try #require(stack.runningWriters.first)
            #expect(try await IngestStack.metric("leitstand_ingest_torn_lines_repaired_total", of: writer) == 1)
            #expect(writer.process.output.contains("cut off a torn last line"))
            #expect(try await stack.post("sensors", #"{"v":1}"#, key: "old-1").status == 200)
            #expect(try await stack.post("sensors", #"{"v":3}"#, key: "new-3").status == 200)
            #expect(try stack.ids("sensors") == ["old-1", "old-2", "new-3"])
        }
    }

    @Test("two writers on one data directory (shared subscription): each event once, lines never interleaved")
    func twoWriters() async throws {
        try await IngestStack.with { stack in
            try await stack.startWriter()
            var storedBefore: [Double] = []
            for writer in stack.runningWriters {
                storedBefore.append(try await IngestStack.metric("leitstand_ingest_events_stored_total", of: writer))
            }
            let keys = (0..<400).map { "k-\($0)" }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for chunk in stride(from: 0, to: keys.count, by: 40) {
                    group.addTask {
                        for key in keys[chunk..<chunk + 40] {
                            let probe = try await stack.post("shared", #"{"key":"\#(key)","pad":"\#(String(repeating: "x", count: 300))"}"#, key: key)
                            #expect(probe.status == 200)
                        }
                    }
                }
                try await group.waitForAll()
            }
            // The same keys again: found as duplicates, whichever writer gets them.
            for key in keys.prefix(50) { #expect(try await stack.post("shared", #"{"again":1}"#, key: key).status == 200) }
            let ids = try stack.ids("shared")
            #expect(ids.count == keys.count && Set(ids) == Set(keys))
            var perWriter: [Double] = []
            for (writer, before) in zip(stack.runningWriters, storedBefore) {
                perWriter.append(try await IngestStack.metric("leitstand_ingest_events_stored_total", of: writer) - before)
            }
            #expect(perWriter.count == 2 && perWriter.allSatisfy { $0 > 0 }, "both writers took events: \(perWriter)")
            #expect(perWriter.reduce(0, +) == Double(keys.count))
        }
    }

    @Test("the writer refuses to start without a usable data directory, naming the variable")
    func writerConfiguration() async throws {
        try await IngestStack.with(startWriter: false) { stack in
            for (value, expected) in [(nil, "LEITSTAND_DATA_DIR: is not set"), ("/nonexistent/ingest", "LEITSTAND_DATA_DIR: /nonexistent/ingest does not exist")] {
                var environment = try stack.writerEnvironment()
                environment["LEITSTAND_DATA_DIR"] = value
                let writer = try await ServiceProcess.start("ingest-writer", environment: environment, waitUntilListening: false)
                #expect(try await writer.process.waitForExit() == 78)
                #expect(writer.process.output.contains(expected), "\(writer.process.output)")
                await writer.stop()
            }
        }
    }
}
