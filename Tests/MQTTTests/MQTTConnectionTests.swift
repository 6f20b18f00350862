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

    @Test("a lost connection is logged with what happened, not \"Unknown reason\"")
    func connectionLostReason() async throws {
        try await MosquittoBroker.with { broker in
            let logs = LogCapture()
            let client = try broker.client(broker.configuration(), logger: logs.logger("lost"))
            try await client.connect()
            try await broker.kill()
            try await waitUntil("the loss was logged") { !logs.entries("MQTT connection lost").isEmpty }
            let lost = try #require(logs.entries("MQTT connection lost").first)
            #expect(lost.level == .warning)
            #expect(lost.metadata["error"] == "The connection was lost.")
        }
    }

    @Test("the reason of a broker's DISCONNECT and of a local failure are told apart", arguments: [
        (Int32(7), "The connection was lost."), (Int32(19), "no answer from the broker within the keep-alive"),
        (Int32(0x8E), "the broker disconnected us: Session taken over (0x8e)"),
        (Int32(0x8B), "the broker disconnected us: Server shutting down (0x8b)"),
    ])
    func disconnectReasons(code: Int32, description: String) {
        #expect(MQTTClient.describeDisconnect(code) == description)
    }

    @Test("the first failed reconnect of an outage is logged at warning, the next ones at debug until the tenth")
    func firstReconnectFailureWarns() async throws {
        try await MosquittoBroker.with { broker in
            let logs = LogCapture()
            let client = try broker.client(broker.configuration(), logger: logs.logger("outage"))
            for outage in 1...2 {
                try await client.connect()
                try await broker.stop()
                try await waitUntil("three reconnects failed") { logs.entries("MQTT connect failed").count >= 3 }
                let failures = logs.entries("MQTT connect failed")
                #expect(failures.map(\.level).prefix(3) == [.warning, .debug, .debug], "outage \(outage)")
                #expect(failures.first?.metadata["attempt"] == "1")
                try await broker.start()
                try await waitUntil("the client reconnected", timeout: .seconds(15)) { client.isConnected }
                // Every failure of this outage has been logged; the next outage starts counting again.
                logs.drop("MQTT connect failed")
            }
        }
    }

    @Test("two clients sharing a client id back off more and more instead of taking the session from each other every round")
    func takeoverBackoff() async throws {
        try await MosquittoBroker.with { broker in
            let logs = LogCapture()
            let clientID = "twin-\(UUID().uuidString.prefix(6))"
            var configuration = broker.configuration(clientID: clientID)
            configuration.reconnectDelay = .milliseconds(200) ... .seconds(30)
            let first = try broker.client(configuration, logger: logs.logger("first"))
            let second = try broker.client(configuration, logger: logs.logger("second"))
            first.start()
            second.start()
            // The condition is the passing of time itself: how often they connect in 8 s. Each connect drops the
            // other; with the backoff starting over at every connect that was every 150–200 ms, about 40 times.
            // Growing from 200 ms it is about 9.
            try await Task.sleep(for: .seconds(8))
            let connects = logs.entries("MQTT connected").count
            #expect(connects >= 4 && connects <= 14, "\(connects) connects in 8 s")
        }
    }
}

