import Foundation
import Logging
import MQTT
import Synchronization
import TestSupport
import Testing

/// What the client refuses, bounds or sheds so that no caller can make it hang, grow without bound or crash.
@Suite("MQTT client limits against a real Mosquitto", .timeLimit(.minutes(3)))
struct MQTTClientLimitsTests {
    @Test("a publish over the broker's packet limit fails before it is queued, connected or not, and the reconnect survives")
    func oversizePublish() async throws {
        try await MosquittoBroker.with { broker in
            let requesterID = "big-\(UUID().uuidString.prefix(6))"
            let client = try await broker.connectedClient(clientID: requesterID, responseTopic: "leitstand/reply/\(requesterID)")
            let limit = client.configuration.maximumPacketSize
            let topic = "leitstand/test/big"
            // Fixed header (1 + 3 length bytes), topic (2 + 18), message id (2), property length (1): 27 bytes.
            let largest = Data(count: limit - 27)
            try await client.publish(topic, payload: largest)
            let tooLarge = Data(count: limit - 26)
            let refusal = MQTTError.payloadTooLarge(topic: topic, bytes: limit + 1, limit: limit)
            await #expect(throws: refusal) { try await client.publish(topic, payload: tooLarge) }

            try await broker.stop()
            try await waitUntil("the client saw the broker go") { !client.isConnected }
            // A client that has not been connected yet does not know the broker's limit: libmosquitto would queue
            // the message and abort the process ("log__printf: Assertion 'mosq' failed") when it sends it after
            // the connect.
            let fresh = try broker.client(broker.configuration())
            fresh.start()
            let started = ContinuousClock.now
            await #expect(throws: refusal) { try await fresh.publish(topic, payload: tooLarge) }
            await #expect(throws: refusal) { try await client.publish(topic, payload: tooLarge) }
            await #expect(throws: refusal) {
                try await client.publish(batch: [MQTTOutgoingMessage(topic: topic, payload: Data("small".utf8)), MQTTOutgoingMessage(topic: topic, payload: tooLarge)])
            }
            let request = MQTTMessage(topic: "leitstand/rpc/x/y", payload: Data(), responseTopic: topic, correlationData: Data([1]))
            let replyRefusal = #expect(throws: MQTTError.self) { try client.reply(to: request, payload: tooLarge) }
            if case .payloadTooLarge(topic, let bytes, limit) = replyRefusal {
                #expect(bytes > limit)
            } else {
                Issue.record("a reply too large for the broker threw \(String(describing: replyRefusal))")
            }
            #expect(ContinuousClock.now - started < .seconds(2))

            try await broker.start()
            try await waitUntil("both clients connected", timeout: .seconds(15)) { client.isConnected && fresh.isConnected }
            let subscriber = try await broker.connectedClient()
            let collector = MessageCollector(try await subscriber.subscribe(topic))
            defer { collector.stop() }
            try await waitUntil("a message arrives after the reconnect") {
                try await client.publish(topic, payload: Data("after".utf8))
                return !collector.messages.isEmpty
            }
            let before = collector.messages.count
            try await fresh.publish(topic, payload: Data("after".utf8))
            try await collector.waitFor(before + 1)
            // Nothing of the refused batch was queued: only what was published after the reconnect arrives.
            #expect(collector.messages.allSatisfy { $0.payload == Data("after".utf8) })
        }
    }

    /// Publishes `batches` batches of 1 000 QoS 1 messages at once while the broker is down, then starts it again,
    /// and returns how the batches ended once every one of them has (one that never ends fails the test). Batches,
    /// not 70 000 tasks: those would starve every other test running meanwhile.
    /// `queued` says when every batch has been queued (or refused), from the pending count and the refusals.
    static func publishWhileBrokerDown(
        batches: Int,
        on broker: MosquittoBroker,
        configure: (inout MQTTConfiguration) -> Void = { _ in },
        queued: @escaping @Sendable (_ pending: Int, _ refused: Int) -> Bool
    ) async throws -> (delivered: Int, tooMany: Int, other: Int) {
        var configuration = broker.configuration()
        configure(&configuration)
        let client = try broker.client(configuration)
        try await client.connect()
        try await broker.stop()
        try await waitUntil("the client saw the broker go") { !client.isConnected }
        let outcomes = Tally()
        let batch = [MQTTOutgoingMessage](repeating: MQTTOutgoingMessage(topic: "leitstand/test/pending", payload: Data([1])), count: 1_000)
        let publishing = Task {
            await withDiscardingTaskGroup { group in
                for _ in 0..<batches {
                    group.addTask {
                        do {
                            try await client.publish(batch: batch)
                            outcomes.counts.withLock { $0.delivered += 1 }
                        } catch MQTTError.tooManyPendingPublishes {
                            outcomes.counts.withLock { $0.tooMany += 1 }
                        } catch {
                            outcomes.counts.withLock { $0.other += 1 }
                        }
                    }
                }
            }
        }
        defer { publishing.cancel() }
        try await waitUntil("every batch was queued or refused", timeout: .seconds(60)) {
            queued(client.pendingPublishes, outcomes.counts.withLock { $0.tooMany })
        }
        if client.pendingPublishes >= client.configuration.maximumPendingPublishes {
            await #expect(throws: MQTTError.tooManyPendingPublishes) {
                try await client.publish("leitstand/test/pending", payload: Data([1]))
            }
        }
        try await broker.start()
        try await waitUntil("every batch ended", timeout: .seconds(60)) {
            outcomes.counts.withLock { $0.delivered + $0.tooMany + $0.other } == batches
        }
        return outcomes.counts.withLock { $0 }
    }

    @Test("beyond maximumPendingPublishes a publish fails at once; the others are delivered after the reconnect")
    func pendingPublishLimit() async throws {
        try await MosquittoBroker.with { broker in
            let limit = MQTTConfiguration(clientID: "x").maximumPendingPublishes
            let outcomes = try await Self.publishWhileBrokerDown(batches: 70, on: broker) { pending, refused in
                pending / 1_000 + refused == 70
            }
            #expect(outcomes.delivered == limit / 1_000)
            #expect(outcomes.tooMany == 70 - limit / 1_000)
            #expect(outcomes.other == 0)
        }
    }

    @Test("past 65 535 pending publishes a waiter whose message id comes round again fails instead of hanging")
    func reusedMessageID() async throws {
        try await MosquittoBroker.with { broker in
            // Every id is in use once 65 535 are pending; the batches still being queued then come round again.
            let outcomes = try await Self.publishWhileBrokerDown(batches: 70, on: broker, configure: { $0.maximumPendingPublishes = 100_000 }) { pending, _ in
                pending >= 65_535
            }
            // 70 000 - 65 535 ids were handed out twice; each time the earlier waiter gave way to the later one.
            #expect(outcomes.tooMany * 1_000 >= 70_000 - 65_535 && outcomes.tooMany <= 6)
            #expect(outcomes.delivered + outcomes.tooMany == 70)
            #expect(outcomes.other == 0)
        }
    }
}

/// How concurrent publishes ended.
final class Tally: Sendable {
    let counts = Mutex((delivered: 0, tooMany: 0, other: 0))
}
