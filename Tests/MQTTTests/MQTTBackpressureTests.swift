import Foundation
import Logging
import MQTT
import MetricsTestKit
import Synchronization
import TestSupport
import Testing

/// Bounded subscription buffers: a consumer that does not keep up makes the client stop reading, so that the broker
/// keeps what it cannot take, instead of the client's memory.
@Suite("MQTT subscription buffers against a real Mosquitto", .timeLimit(.minutes(3)))
struct MQTTBackpressureTests {
    /// A client with its own metrics, disconnected by the broker's shutdown.
    static func client(_ configuration: MQTTConfiguration, on broker: MosquittoBroker, metrics: TestMetrics, logs: LogCapture? = nil) throws -> MQTTClient {
        let logger = logs?.logger(configuration.clientID) ?? Logger(label: "test.\(configuration.clientID)")
        return broker.adopt(try MQTTClient(configuration: configuration, logger: logger, metricsFactory: metrics))
    }

    /// Publishes `count` numbered QoS 1 messages of 1 KB, in batches, as fast as the broker takes them.
    static func flood(_ topic: String, count: Int, from publisher: MQTTClient) async throws {
        let padding = String(repeating: "x", count: 1_000)
        for start in stride(from: 0, to: count, by: 500) {
            let batch = (start..<min(start + 500, count)).map { MQTTOutgoingMessage(topic: topic, payload: Data("\($0) \(padding)".utf8)) }
            try await publisher.publish(batch: batch)
        }
    }

    static func number(_ message: MQTTMessage) -> Int? {
        Int(String(decoding: message.payload.prefix(while: { $0 != 0x20 }), as: UTF8.self))
    }

    @Test("a slow consumer keeps its buffer within the limit; the broker holds the rest, and nothing is lost")
    func slowConsumer() async throws {
        try await MosquittoBroker.with { broker in
            let metrics = TestMetrics()
            var configuration = broker.configuration()
            configuration.session = .persistent(expiry: .seconds(300))
            let subscriber = try Self.client(configuration, on: broker, metrics: metrics)
            try await subscriber.connect()
            let subscription = try await subscriber.subscribe("leitstand/test/slow", bufferLimit: 200)
            let received = Mutex<[Int]>([])
            let consuming = Task {
                for await message in subscription {
                    received.withLock { $0.append(Self.number(message) ?? -1) }
                    // Slower than the publisher: about 0.1 ms per message.
                    if received.withLock({ $0.count }).isMultiple(of: 10) { try? await Task.sleep(for: .milliseconds(1)) }
                }
            }
            defer { consuming.cancel() }

            let publisher = try await broker.connectedClient()
            try await Self.flood("leitstand/test/slow", count: 20_000, from: publisher)
            // Without the pause the buffer fills to twice its limit and sheds: then they never all arrive.
            try await waitUntil("all 20 000 arrived", timeout: .seconds(90)) {
                received.withLock { $0.count } >= 20_000 || subscription.shedCount > 0
            }

            #expect(received.withLock { $0 } == Array(0..<20_000))
            #expect(subscription.peakBufferedCount <= 200, "peak \(subscription.peakBufferedCount)")
            #expect(subscription.shedCount == 0)
            #expect(try metrics.expectCounter("leitstand_mqtt_read_pauses_total").totalValue > 0)
        }
    }

    @Test("while a subscription is full, a task awaiting a PUBACK, a reply or a ping still gets it; past twice the limit messages are shed and counted")
    func waitersReadThroughAFullBuffer() async throws {
        try await MosquittoBroker.with { broker in
            let metrics = TestMetrics()
            let logs = LogCapture()
            let clientID = "full-\(UUID().uuidString.prefix(6))"
            var configuration = broker.configuration(clientID: clientID)
            configuration.responseTopic = "leitstand/reply/\(clientID)"
            let client = try Self.client(configuration, on: broker, metrics: metrics, logs: logs)
            try await client.connect()
            // Nobody consumes it: after 50 messages the client stops reading.
            let stuck = try await client.subscribe("leitstand/test/stuck", bufferLimit: 50)
            let responder = try await broker.connectedClient()
            let serving = Task { try await responder.serveRequests(on: "leitstand/rpc/full/+") { $0.payload } }
            defer { serving.cancel() }
            try await waitUntil("the responder answers") {
                (try? await client.request("leitstand/rpc/full/echo", payload: Data("x".utf8), timeout: .milliseconds(300))) != nil
            }

            let publisher = try await broker.connectedClient()
            try await Self.flood("leitstand/test/stuck", count: 2_000, from: publisher)
            try await waitUntil("the buffer is full") { stuck.bufferedCount >= 50 }
            for round in 0..<20 {
                try await client.publish("leitstand/test/other", payload: Data("\(round)".utf8))
                let reply = try await client.request("leitstand/rpc/full/echo", payload: Data("\(round)".utf8), timeout: .seconds(5))
                #expect(reply.payload == Data("\(round)".utf8))
                try await client.ping(timeout: .seconds(5))
                #expect(stuck.bufferedCount <= 100)
            }
            #expect(stuck.shedCount > 0)
            #expect(try metrics.expectCounter("leitstand_mqtt_messages_shed_total").totalValue == Int64(stuck.shedCount))
            #expect(logs.entries("MQTT subscription buffer full, messages shed").first?.metadata["mqtt.filter"] == "leitstand/test/stuck")
            withExtendedLifetime(stuck) {}
        }
    }

    @Test("a pause longer than the keep-alive keeps the connection, and the consumer gets everything afterwards")
    func pauseOutlastsKeepAlive() async throws {
        try await MosquittoBroker.with { broker in
            let metrics = TestMetrics()
            let logs = LogCapture()
            var configuration = broker.configuration()
            configuration.session = .persistent(expiry: .seconds(300))
            configuration.keepAlive = .seconds(5)
            let subscriber = try Self.client(configuration, on: broker, metrics: metrics, logs: logs)
            try await subscriber.connect()
            let subscription = try await subscriber.subscribe("leitstand/test/paused", bufferLimit: 100)
            let publisher = try await broker.connectedClient()
            try await Self.flood("leitstand/test/paused", count: 1_000, from: publisher)
            try await waitUntil("the buffer is full") { subscription.bufferedCount >= 100 }
            // The condition is the passing of time itself: twice the keep-alive and more without reading. libmosquitto
            // would have dropped the connection after one unanswered PINGREQ, the broker after 1.5 keep-alives of
            // silence.
            try await Task.sleep(for: .seconds(12))
            #expect(subscriber.isConnected)
            #expect(logs.entries("MQTT connection lost").isEmpty)
            #expect(logs.entries("MQTT connected").count == 1)

            var numbers: [Int] = []
            for await message in subscription {
                numbers.append(Self.number(message) ?? -1)
                if numbers.count == 1_000 { break }
            }
            #expect(numbers == Array(0..<1_000))
            #expect(logs.entries("MQTT connection lost").isEmpty)
        }
    }
}

