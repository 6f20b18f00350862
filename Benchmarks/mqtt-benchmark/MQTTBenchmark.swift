import ArgumentParser
import Contracts
import Foundation
import Logging
import MQTT

/// Measures the MQTT layer every Leitstand service stands on, through a real broker:
/// the request/response round trip (one request at a time, so each figure is one full round trip), and the
/// QoS 1 publish throughput of one client (each publish counted when the broker's PUBACK arrived).
/// With `--subscriptions N` it measures instead how fast one client takes in messages while it holds N subscriptions,
/// and with `--slow-consumer-messages N` how much memory a subscriber that does not keep up takes.
@main
struct MQTTBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqtt-benchmark",
        abstract: "Request/response latency and QoS 1 publish throughput through a Mosquitto broker."
    )

    @Option(help: "Broker URL; default LEITSTAND_MQTT_URL (eval \"$(./dev env)\" for the dev stack).")
    var url = ProcessInfo.processInfo.environment["LEITSTAND_MQTT_URL"] ?? "mqtt://127.0.0.1:1883"

    @Option(help: "Measured requests (after the warm-up).")
    var requests = 20_000

    @Option(help: "Warm-up requests, not measured.")
    var warmup = 1_000

    @Option(help: "Request and publish payload size in bytes.")
    var payloadBytes = 128

    @Option(help: "QoS 1 messages to publish for the throughput figure.")
    var messages = 200_000

    @Option(help: "Publishes awaiting their PUBACK at once.")
    var window = 1_000

    @Option(help: "Measure only incoming-message routing: one subscriber holding this many subscriptions (e.g. 1 or 10000).")
    var subscriptions: Int?

    @Option(help: "Messages for the routing measurement.")
    var routedMessages = 20_000

    @Option(help: "Measure only a slow subscriber: this many 1 KB QoS 1 messages, published as fast as the broker takes them, consumed at about 10 000/s.")
    var slowConsumerMessages: Int?

    func run() async throws {
        var logger = Logger(label: "mqtt-benchmark")
        logger.logLevel = .warning
        let run = UUID().uuidString.prefix(8)
        let payload = Data(repeating: 0x61, count: payloadBytes)

        var responderConfiguration = try MQTTConfiguration(url: url, caFile: ProcessInfo.processInfo.environment["LEITSTAND_MQTT_CA"], clientID: "bench-responder-\(run)")
        responderConfiguration.keepAlive = .seconds(60)
        if let subscriptions {
            try await measureRouting(subscriptions: subscriptions, configuration: responderConfiguration, run: String(run), payload: payload, logger: logger)
            return
        }
        if let slowConsumerMessages {
            try await measureSlowConsumer(messages: slowConsumerMessages, configuration: responderConfiguration, run: String(run), logger: logger)
            return
        }
        var requesterConfiguration = responderConfiguration
        requesterConfiguration.clientID = "bench-requester-\(run)"
        requesterConfiguration.responseTopic = Topic.replies(clientID: requesterConfiguration.clientID)

        let responder = try MQTTClient(configuration: responderConfiguration, logger: logger)
        let requester = try MQTTClient(configuration: requesterConfiguration, logger: logger)
        try await responder.connect()
        try await requester.connect()

        let method = Topic.rpc("bench-\(run)", "echo")
        let serving = Task { try await responder.serveRequests(on: method) { $0.payload } }
        // The responder's SUBACK may still be on its way: retry the first request until it is answered.
        var answered = false
        for _ in 0..<50 where !answered {
            answered = (try? await requester.request(method, payload: payload, timeout: .milliseconds(200))) != nil
        }
        guard answered else { throw ValidationError("no reply from the responder: check the URL and the ACL") }

        for _ in 0..<warmup { _ = try await requester.request(method, payload: payload, timeout: .seconds(5)) }
        let clock = ContinuousClock()
        var roundTrips: [Duration] = []
        roundTrips.reserveCapacity(requests)
        let requestsStarted = clock.now
        for _ in 0..<requests {
            let started = clock.now
            _ = try await requester.request(method, payload: payload, timeout: .seconds(5))
            roundTrips.append(clock.now - started)
        }
        let requestsElapsed = clock.now - requestsStarted
        serving.cancel()
        roundTrips.sort()

        print("broker \(responderConfiguration.host):\(responderConfiguration.port), payload \(payloadBytes) B")
        print("request/response, sequential, \(requests) requests after \(warmup) warm-up:")
        for (label, quantile) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p99.9", 0.999)] {
            print("  \(label.padding(toLength: 6, withPad: " ", startingAt: 0)) \(Self.milliseconds(roundTrips[Int(Double(roundTrips.count - 1) * quantile)])) ms")
        }
        print("  max    \(Self.milliseconds(roundTrips.last!)) ms")
        print("  rate   \(Int(Double(requests) / requestsElapsed.seconds)) requests/s")

        let topic = Topic.rpc("bench-\(run)", "flood")
        let publishStarted = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<messages {
                if index >= window { try await group.next() }
                group.addTask { try await requester.publish(topic, payload: payload, qos: .atLeastOnce) }
            }
            try await group.waitForAll()
        }
        let publishElapsed = clock.now - publishStarted
        print("QoS 1 publish, one client, \(messages) messages, a task per message, up to \(window) awaiting PUBACK:")
        print("  \(Int(Double(messages) / publishElapsed.seconds)) messages/s acknowledged (\(String(format: "%.2f", publishElapsed.seconds)) s)")

        // The same stream as batches of `window` messages, each batch awaited as a whole, two batches in flight.
        let batch = [MQTTOutgoingMessage](repeating: MQTTOutgoingMessage(topic: topic, payload: payload), count: window)
        let batchStarted = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<(messages / window) {
                if index >= 2 { try await group.next() }
                group.addTask { try await requester.publish(batch: batch) }
            }
            try await group.waitForAll()
        }
        let batchElapsed = clock.now - batchStarted
        let batched = messages / window * window
        print("QoS 1 publish, one client, \(batched) messages in batches of \(window), two batches in flight:")
        print("  \(Int(Double(batched) / batchElapsed.seconds)) messages/s acknowledged (\(String(format: "%.2f", batchElapsed.seconds)) s)")

        await requester.disconnect()
        await responder.disconnect()
    }

    static func milliseconds(_ duration: Duration) -> String { String(format: "%.3f", duration.seconds * 1000) }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
