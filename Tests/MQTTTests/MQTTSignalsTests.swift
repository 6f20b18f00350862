import Foundation
import Logging
import MQTT
import Synchronization
import TestSupport
import Testing

/// What the client tells its callers and its operators: deliveries, disconnect reasons, outages, a live ping.
@Suite("MQTT client signals against a real Mosquitto", .timeLimit(.minutes(2)))
struct MQTTSignalsTests {
    @Test("a QoS 1 publish says when the broker had no subscriber for it (PUBACK 0x10)")
    func noMatchingSubscribers() async throws {
        try await MosquittoBroker.with { broker in
            let publisher = try await broker.connectedClient()
            #expect(try await publisher.publish("leitstand/test/nobody", payload: Data("x".utf8)) == .noMatchingSubscribers)
            #expect(try await publisher.publish("leitstand/test/nobody", payload: Data("x".utf8), qos: .atMostOnce) == .delivered)

            let subscriber = try await broker.connectedClient()
            let collector = MessageCollector(try await subscriber.subscribe("leitstand/test/somebody"))
            defer { collector.stop() }
            #expect(try await publisher.publish("leitstand/test/somebody", payload: Data("x".utf8)) == .delivered)
            try await collector.waitFor(1)
        }
    }

    @Test("ping is a live round trip: it answers while the broker runs, times out while it is paused, and fails without a connection")
    func pingPausedBroker() async throws {
        try await MosquittoBroker.with { broker in
            let client = try await broker.connectedClient()
            try await client.ping(timeout: .seconds(5))
            broker.pause()
            let started = ContinuousClock.now
            await #expect(throws: MQTTError.timeout(operation: "ping the MQTT broker")) { try await client.ping(timeout: .milliseconds(500)) }
            let elapsed = ContinuousClock.now - started
            #expect(elapsed >= .milliseconds(500) && elapsed < .seconds(3))
            // The connection itself does not know yet: this is what /health reported as "up" for 35 s.
            #expect(client.isConnected)
            broker.resume()
            try await client.ping(timeout: .seconds(5))

            try await broker.stop()
            try await waitUntil("the client saw the broker go") { !client.isConnected }
            await #expect(throws: MQTTError.notConnected) { try await client.ping(timeout: .seconds(5)) }
        }
    }
}

