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
}
