import Foundation
import Logging
import MQTT
import Synchronization

extension MQTTBenchmark {
    /// One subscriber holds `subscriptions` filters (all but one of them never match: half exact topics, half with a
    /// `+`), and a publisher sends `routedMessages` QoS 1 messages to the one that matches, in batches of `window`,
    /// never more than four batches ahead of what the subscriber has taken in: the figure is the subscriber's rate.
    func measureRouting(subscriptions: Int, configuration: MQTTConfiguration, run: String, payload: Data, logger: Logger) async throws {
        let subscriber = try await Self.connectedClient("bench-subscriber-\(run)", configuration, logger: logger)
        let publisher = try await Self.connectedClient("bench-publisher-\(run)", configuration, logger: logger)

        let prefix = "bench/\(run)/route"
        var others: [MQTTSubscription] = []
        for index in 0..<max(0, subscriptions - 1) {
            others.append(try await subscriber.subscribe(index.isMultiple(of: 2) ? "\(prefix)/\(index)/exact" : "\(prefix)/\(index)/+/wild"))
        }
        let target = try await subscriber.subscribe("\(prefix)/target/+")
        let received = Atomic<Int>(0)
        let counting = Task {
            for await _ in target { received.add(1, ordering: .relaxed) }
        }
        // The subscription may still be on its way: publish until one message has come through.
        while received.load(ordering: .relaxed) == 0 {
            try await publisher.publish("\(prefix)/target/warmup", payload: payload)
            try await Task.sleep(for: .milliseconds(10))
        }
        let clock = ContinuousClock()
        let started = clock.now
        let baseline = received.load(ordering: .relaxed)
        var published = 0
        let batch = [MQTTOutgoingMessage](repeating: MQTTOutgoingMessage(topic: "\(prefix)/target/x", payload: payload), count: window)
        while published < routedMessages {
            while published - (received.load(ordering: .relaxed) - baseline) > 4 * window {
                try await Task.sleep(for: .milliseconds(1))
            }
            try await publisher.publish(batch: batch)
            published += window
        }
        while received.load(ordering: .relaxed) - baseline < published {
            try await Task.sleep(for: .milliseconds(1))
        }
        let elapsed = clock.now - started
        print("routing: one subscriber with \(subscriptions) subscriptions (\(max(0, subscriptions - 1)) never matching), \(published) QoS 1 messages of \(payloadBytes) B:")
        print("  \(Int(Double(published) / elapsed.seconds)) messages/s taken in (\(String(format: "%.2f", elapsed.seconds)) s)")
        counting.cancel()
        withExtendedLifetime(others) {}
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// A connected client for one role of a measurement.
    static func connectedClient(_ clientID: String, _ configuration: MQTTConfiguration, session: MQTTConfiguration.Session = .clean, logger: Logger)
        async throws -> MQTTClient
    {
        var configuration = configuration
        configuration.clientID = clientID
        configuration.session = session
        let client = try MQTTClient(configuration: configuration, logger: logger)
        try await client.connect()
        return client
    }
}
