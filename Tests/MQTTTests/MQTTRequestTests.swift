import Foundation
import Logging
import MQTT
import MetricsTestKit
import Synchronization
import TestSupport
import Testing

/// Request/response with deadlines: a request whose asker has given up never acts, replies go only to reply topics,
/// and a responder runs a bounded number of handlers.
@Suite("MQTT requests against a real Mosquitto", .timeLimit(.minutes(2)))
struct MQTTRequestTests {
    /// Counts handler calls by topic, and how many ran at once.
    final class Handlers: Sendable {
        private let counts = Mutex((topics: [String](), running: 0, mostAtOnce: 0))
        /// How often a handler was called for `topic`.
        func called(_ topic: String) -> Int { counts.withLock { $0.topics.filter { $0 == topic }.count } }
        var mostAtOnce: Int { counts.withLock { $0.mostAtOnce } }

        func run<T>(_ request: MQTTMessage, _ body: () async throws -> T) async rethrows -> T {
            counts.withLock {
                $0.topics.append(request.topic)
                $0.running += 1
                $0.mostAtOnce = max($0.mostAtOnce, $0.running)
            }
            defer { counts.withLock { $0.running -= 1 } }
            return try await body()
        }
    }

    static func responder(on broker: MosquittoBroker, metrics: TestMetrics, logs: LogCapture, configure: (inout MQTTConfiguration) -> Void = { _ in })
        async throws -> MQTTClient
    {
        var configuration = broker.configuration()
        configure(&configuration)
        let client = broker.adopt(try MQTTClient(configuration: configuration, logger: logs.logger("responder"), metricsFactory: metrics))
        try await client.connect()
        return client
    }

    static func requester(on broker: MosquittoBroker) async throws -> MQTTClient {
        let clientID = "requester-\(UUID().uuidString.prefix(6))"
        return try await broker.connectedClient(clientID: clientID, responseTopic: "leitstand/reply/\(clientID)")
    }

    @Test("a request sends its deadline as the user property deadline in Unix milliseconds; a received one is parsed")
    func deadlineOnTheWire() async throws {
        try await MosquittoBroker.with { broker in
            // mosquitto_sub, an independent client, prints what went over the wire.
            let output = broker.directory.appendingPathComponent("sub.out")
            let sub = try ChildProcess(
                name: "mosquitto_sub", executable: URL(fileURLWithPath: "/usr/bin/mosquitto_sub"),
                arguments: ["-V", "5", "-p", "\(broker.port)", "-u", broker.username, "-P", broker.password, "-t", "leitstand/rpc/wire/+", "-F", "%P", "-C", "1"],
                environment: [:], outputFile: output
            )
            defer { sub.signal(SIGTERM) }
            let requester = try await Self.requester(on: broker)
            var sent: [Date] = []
            try await waitUntil("mosquitto_sub got a request") {
                sent.append(Date())
                _ = try? await requester.request("leitstand/rpc/wire/x", payload: Data(), timeout: .seconds(2))
                return !sub.isRunning
            }
            let printed = try String(contentsOf: output, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let milliseconds = try #require(printed.hasPrefix("deadline:") ? Int64(printed.dropFirst("deadline:".count)) : nil, "printed \(printed)")
            // 2 s minus a margin of 200 ms after one of the requests sent.
            let expected = sent.map { ($0.timeIntervalSince1970 + 1.8) * 1_000 }
            #expect(expected.contains { abs(Double(milliseconds) - $0) < 300 }, "deadline \(milliseconds), expected about one of \(expected)")

            let listener = try await broker.connectedClient()
            let collector = MessageCollector(try await listener.subscribe("leitstand/test/deadline"))
            defer { collector.stop() }
            for value in ["1767225600123", "12x", "-5", ""] {
                let pub = try ChildProcess(
                    name: "mosquitto_pub", executable: URL(fileURLWithPath: "/usr/bin/mosquitto_pub"),
                    arguments: ["-V", "5", "-p", "\(broker.port)", "-u", broker.username, "-P", broker.password, "-t", "leitstand/test/deadline",
                                "-m", value, "-D", "publish", "user-property", "deadline", value],
                    environment: [:], outputFile: broker.directory.appendingPathComponent("pub.out")
                )
                try await pub.waitForExit()
            }
            let messages = try await collector.waitFor(4)
            #expect(messages[0].deadline == Date(timeIntervalSince1970: 1_767_225_600.123))
            #expect(messages[1...].allSatisfy { $0.deadline == nil })
        }
    }

    @Test("the margin: a tenth of the timeout, between 20 ms and 500 ms", arguments: [
        (Duration.milliseconds(100), Duration.milliseconds(20)), (.seconds(1), .milliseconds(100)), (.seconds(3), .milliseconds(300)),
        (.seconds(30), .milliseconds(500)),
    ])
    func deadlineMargin(timeout: Duration, margin: Duration) {
        #expect(MQTTClient.deadlineMargin(for: timeout) == margin)
    }

    @Test("a request held up while the broker was paused reaches the responder after its asker gave up: it is dropped, never handled")
    func lateRequestNeverActs() async throws {
        try await MosquittoBroker.with { broker in
            let metrics = TestMetrics()
            let logs = LogCapture()
            let responder = try await Self.responder(on: broker, metrics: metrics, logs: logs)
            let handlers = Handlers()
            let serving = Task {
                try await responder.serveRequests(on: "leitstand/rpc/door/+") { request in await handlers.run(request) { Data("opened".utf8) } }
            }
            defer { serving.cancel() }
            let requester = try await Self.requester(on: broker)
            try await waitUntil("the responder answers") {
                (try? await requester.request("leitstand/rpc/door/ping", payload: Data(), timeout: .seconds(2))) != nil
            }

            broker.pause()
            await #expect(throws: MQTTError.timeout(operation: "request on leitstand/rpc/door/open")) {
                try await requester.request("leitstand/rpc/door/open", payload: Data(), timeout: .milliseconds(300))
            }
            // The asker has given up; the request still sits in the broker's socket buffer, within its expiry.
            broker.resume()
            let open = "leitstand/rpc/door/open"
            try await waitUntil("the late request was dropped") {
                logs.entries("MQTT request dropped").contains { $0.metadata["mqtt.topic"] == open } || handlers.called(open) > 0
            }
            #expect(handlers.called(open) == 0)
            let dropped = try #require(logs.entries("MQTT request dropped").first { $0.metadata["mqtt.topic"] == open })
            #expect(dropped.level == .warning)
            #expect(dropped.metadata["reason"] == "late")
            #expect(Int(dropped.metadata["lateMs"] ?? "") ?? 0 > 0)
            #expect(metrics.counterTotal(label: "leitstand_mqtt_requests_dropped_total", dimensions: [("reason", "late")]) >= 1)
        }
    }

    @Test("requests without a deadline, too large, or without an allowed response topic are dropped before the handler, each counted by reason")
    func refusedRequests() async throws {
        try await MosquittoBroker.with { broker in
            let metrics = TestMetrics()
            let logs = LogCapture()
            let responder = try await Self.responder(on: broker, metrics: metrics, logs: logs) { $0.replyTopicFilter = "leitstand/reply/+" }
            let handlers = Handlers()
            let serving = Task {
                try await responder.serveRequests(on: "leitstand/rpc/strict/+", maximumPayloadBytes: 16) { request in
                    await handlers.run(request) { request.payload }
                }
            }
            defer { serving.cancel() }
            let requester = try await Self.requester(on: broker)
            try await waitUntil("the responder answers") {
                (try? await requester.request("leitstand/rpc/strict/ping", payload: Data("ping".utf8), timeout: .seconds(2))) != nil
            }

            // Hand-made requests, as a foreign or forged client would send them.
            let sender = try await broker.connectedClient()
            let inAMinute = Date().addingTimeInterval(60)
            let requests: [(reason: String, properties: MQTTPublishProperties, payload: Data)] = [
                ("no_deadline", .init(responseTopic: "leitstand/reply/x", correlationData: Data([1])), Data("a".utf8)),
                ("late", .init(responseTopic: "leitstand/reply/x", correlationData: Data([2]), deadline: Date().addingTimeInterval(-1)), Data("b".utf8)),
                ("too_large", .init(responseTopic: "leitstand/reply/x", correlationData: Data([3]), deadline: inAMinute), Data(count: 17)),
                // A door's job topic named as the response topic (issue 9, item 4), and none at all.
                ("bad_response_topic", .init(responseTopic: "leitstand/door/lobby/jobs", correlationData: Data([4]), deadline: inAMinute), Data("c".utf8)),
                ("bad_response_topic", .init(correlationData: Data([5]), deadline: inAMinute), Data("d".utf8)),
            ]
            for request in requests {
                try await sender.publish("leitstand/rpc/strict/open", payload: request.payload, properties: request.properties)
            }
            // (A readiness ping that reached the responder too late under load is dropped too, under its own topic.)
            func dropped() -> [LogCapture.Entry] {
                logs.entries("MQTT request dropped").filter { $0.metadata["mqtt.topic"] == "leitstand/rpc/strict/open" }
            }
            try await waitUntil("all five were dropped") { dropped().count == 5 }
            #expect(dropped().map { $0.metadata["reason"] ?? "" } == requests.map(\.reason))
            for reason in Set(requests.map(\.reason)) {
                let logged = logs.entries("MQTT request dropped").filter { $0.metadata["reason"] == reason }.count
                #expect(metrics.counterTotal(label: "leitstand_mqtt_requests_dropped_total", dimensions: [("reason", reason)]) == logged, "\(reason)")
            }
            // Nothing of a request is logged but its topic and why: never its payload.
            #expect(logs.entries("MQTT request dropped").allSatisfy { $0.metadata["payload"] == nil })

            // Only the requests after them reach the handler.
            let reply = try await requester.request("leitstand/rpc/strict/open", payload: Data("ok".utf8), timeout: .seconds(5))
            #expect(reply.payload == Data("ok".utf8))
            #expect(handlers.called("leitstand/rpc/strict/open") == 1)

            // reply(to:) itself refuses a response topic outside the filter.
            let forged = MQTTMessage(topic: "leitstand/rpc/strict/open", payload: Data(), responseTopic: "leitstand/door/lobby/jobs", correlationData: Data([6]))
            #expect(throws: MQTTError.responseTopicRefused(topic: "leitstand/door/lobby/jobs")) { try responder.reply(to: forged, payload: Data()) }
        }
    }

    @Test("at most maximumConcurrency handlers run at once; the other requests wait and are all answered")
    func boundedConcurrency() async throws {
        try await MosquittoBroker.with { broker in
            let responder = try await Self.responder(on: broker, metrics: TestMetrics(), logs: LogCapture())
            let handlers = Handlers()
            let serving = Task {
                try await responder.serveRequests(on: "leitstand/rpc/slow/+", maximumConcurrency: 4) { request in
                    try await handlers.run(request) {
                        try await Task.sleep(for: .milliseconds(20))
                        return request.payload
                    }
                }
            }
            defer { serving.cancel() }
            let requester = try await Self.requester(on: broker)
            try await waitUntil("the responder answers") {
                (try? await requester.request("leitstand/rpc/slow/ping", payload: Data(), timeout: .seconds(2))) != nil
            }
            let replies = try await withThrowingTaskGroup(of: Data.self) { group in
                for index in 0..<100 {
                    group.addTask { try await requester.request("leitstand/rpc/slow/x", payload: Data("\(index)".utf8), timeout: .seconds(20)).payload }
                }
                return try await group.reduce(into: Set<Data>()) { $0.insert($1) }
            }
            #expect(replies == Set((0..<100).map { Data("\($0)".utf8) }))
            #expect(handlers.mostAtOnce <= 4 && handlers.mostAtOnce >= 2, "\(handlers.mostAtOnce) at once")
        }
    }

    @Test("a handler that returns nil sends no reply; one whose deadline passes while it runs still replies")
    func replyAfterDeadline() async throws {
        try await MosquittoBroker.with { broker in
            let responder = try await Self.responder(on: broker, metrics: TestMetrics(), logs: LogCapture())
            let serving = Task {
                try await responder.serveRequests(on: "leitstand/rpc/late/+") { request in
                    if request.topic.hasSuffix("silent") { return nil }
                    if request.topic.hasSuffix("slow"), let deadline = request.deadline {
                        try await Task.sleep(for: .milliseconds(Int(deadline.timeIntervalSinceNow * 1_000) + 200))
                    }
                    return request.payload
                }
            }
            defer { serving.cancel() }
            let requester = try await Self.requester(on: broker)
            try await waitUntil("the responder answers") {
                (try? await requester.request("leitstand/rpc/late/ping", payload: Data(), timeout: .seconds(2))) != nil
            }
            await #expect(throws: MQTTError.timeout(operation: "request on leitstand/rpc/late/silent")) {
                try await requester.request("leitstand/rpc/late/silent", payload: Data(), timeout: .milliseconds(300))
            }
            // By hand, so that the asker's patience does not depend on this machine's load: a deadline 2 s ahead, a
            // handler that finishes 200 ms after it, and an asker that listens for a good while longer.
            let asker = try await broker.connectedClient()
            let replies = MessageCollector(try await asker.subscribe("leitstand/reply/asker"))
            defer { replies.stop() }
            try await asker.publish(
                "leitstand/rpc/late/slow", payload: Data("done".utf8),
                properties: .init(responseTopic: "leitstand/reply/asker", correlationData: Data([7]), deadline: Date().addingTimeInterval(2))
            )
            let reply = try await replies.waitFor(1, timeout: .seconds(10))
            #expect(reply.first?.payload == Data("done".utf8) && reply.first?.correlationData == Data([7]))
        }
    }
}

