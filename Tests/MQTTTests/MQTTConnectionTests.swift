import Foundation
import Logging
import MQTT
import Synchronization
import TestSupport
import Testing

/// Connecting, reconnecting and disconnecting: what the broker and the logs see.
@Suite("MQTT client connections against a real Mosquitto", .timeLimit(.minutes(3)))
struct MQTTConnectionTests {
    @Test("disconnect() under incoming traffic writes its DISCONNECT: the last will never fires (20 tries)")
    func cleanDisconnectUnderTraffic() async throws {
        try await MosquittoBroker.with { broker in
            let watcher = try await broker.connectedClient()
            let wills = MessageCollector(try await watcher.subscribe("leitstand/test/will/+"))
            defer { wills.stop() }
            let flooder = try await broker.connectedClient()
            let flooding = Task {
                let batch = [MQTTOutgoingMessage](repeating: MQTTOutgoingMessage(topic: "leitstand/test/flood", payload: Data(count: 256)), count: 200)
                while !Task.isCancelled { try? await flooder.publish(batch: batch) }
            }
            defer { flooding.cancel() }

            for attempt in 0..<20 {
                var configuration = broker.configuration()
                configuration.will = .init(topic: "leitstand/test/will/\(attempt)", payload: Data("gone".utf8), retain: false)
                let client = try broker.client(configuration)
                let flood = MessageCollector(try await client.subscribe("leitstand/test/flood"))
                try await client.connect()
                try await flood.waitFor(100)
                await client.disconnect()
                flood.stop()
            }
            // A will would be published as the broker notices the closed socket. Two markers, each awaited: the
            // second passes through the broker only after everything it did before the first arrived here.
            for marker in ["marker-1", "marker-2"] {
                try await watcher.publish("leitstand/test/will/\(marker)", payload: Data())
                try await waitUntil("\(marker) arrived") { wills.messages.contains { $0.topic.hasSuffix(marker) } }
            }
            #expect(wills.messages.map(\.topic).filter { !$0.contains("marker") } == [])
        }
    }
}
