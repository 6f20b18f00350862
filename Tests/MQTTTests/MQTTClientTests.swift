import Foundation
import Logging
import MQTT
import Synchronization
import TestSupport
import Testing

@Suite("MQTT client against a real Mosquitto", .timeLimit(.minutes(2)))
struct MQTTClientTests {
    /// Connects again as `clientID` with a persistent session, subscribing before the CONNECT so that the messages
    /// the broker queued, which arrive right after CONNACK, already have a route.
    func resumeSession(_ clientID: String, on broker: MosquittoBroker, subscribingTo filter: String) async throws -> MessageCollector {
        var configuration = broker.configuration(clientID: clientID)
        configuration.session = .persistent(expiry: .seconds(300))
        let client = try broker.client(configuration)
        let collector = MessageCollector(try await client.subscribe(filter))
        try await client.connect()
        return collector
    }

    @Test("a published message arrives with its v5 properties")
    func publishSubscribeRoundTrip() async throws {
        try await MosquittoBroker.with { broker in
            let subscriber = try await broker.connectedClient()
            let publisher = try await broker.connectedClient()
            let collector = MessageCollector(try await subscriber.subscribe("leitstand/test/+/events"))
            defer { collector.stop() }

            try await publisher.publish(
                "leitstand/test/a/events",
                payload: Data("hello".utf8),
                properties: MQTTPublishProperties(messageExpiry: .seconds(60), responseTopic: "leitstand/test/reply", correlationData: Data([1, 2, 3]))
            )
            try await publisher.publish("leitstand/test/b/other", payload: Data("not matching".utf8))
            try await publisher.publish("leitstand/test/b/events", payload: Data("second".utf8), qos: .atMostOnce)

            let messages = try await collector.waitFor(2)
            #expect(messages.map { String(decoding: $0.payload, as: UTF8.self) } == ["hello", "second"])
            #expect(messages[0].topic == "leitstand/test/a/events")
            #expect(messages[0].qos == .atLeastOnce)
            #expect(messages[0].responseTopic == "leitstand/test/reply")
            #expect(messages[0].correlationData == Data([1, 2, 3]))
            #expect((messages[0].messageExpiry ?? 0) > 50)
            #expect(messages[1].messageExpiry == nil)
        }
    }

    @Test("QoS 1 messages published while a persistent subscriber is away arrive when it reconnects")
    func persistentSessionKeepsMessages() async throws {
        try await MosquittoBroker.with { broker in
            let clientID = "persistent-\(UUID().uuidString.prefix(6))"
            let first = try await broker.connectedClient(clientID: clientID, session: .persistent(expiry: .seconds(300)))
            let subscription = try await first.subscribe("leitstand/test/queue")
            await first.disconnect()
            withExtendedLifetime(subscription) {}

            let publisher = try await broker.connectedClient()
            for index in 1...5 {
                try await publisher.publish("leitstand/test/queue", payload: Data("\(index)".utf8))
            }

            let collector = try await resumeSession(clientID, on: broker, subscribingTo: "leitstand/test/queue")
            defer { collector.stop() }
            let messages = try await collector.waitFor(5)
            #expect(messages.map { String(decoding: $0.payload, as: UTF8.self) } == ["1", "2", "3", "4", "5"])
        }
    }

    @Test("a clean session does not keep messages published while it was away")
    func cleanSessionDoesNotKeepMessages() async throws {
        try await MosquittoBroker.with { broker in
            let clientID = "clean-\(UUID().uuidString.prefix(6))"
            let first = try await broker.connectedClient(clientID: clientID)
            let subscription = try await first.subscribe("leitstand/test/queue")
            await first.disconnect()
            withExtendedLifetime(subscription) {}

            let publisher = try await broker.connectedClient()
            try await publisher.publish("leitstand/test/queue", payload: Data("lost".utf8))

            let second = try broker.client(broker.configuration(clientID: clientID))
            let collector = MessageCollector(try await second.subscribe("leitstand/test/queue"))
            defer { collector.stop() }
            try await second.connect()
            // The subscription goes out with the CONNECT's answer and the broker may take a publish on another
            // connection first: "live" is sent until it arrives, and "lost" must never.
            try await waitUntil("a live message arrives") {
                try await publisher.publish("leitstand/test/queue", payload: Data("live".utf8))
                return !collector.messages.isEmpty
            }
            #expect(collector.messages.allSatisfy { String(decoding: $0.payload, as: UTF8.self) == "live" })
        }
    }

    @Test("message expiry drops a message that waited too long, and keeps one that did not")
    func messageExpiryDropsStaleMessages() async throws {
        try await MosquittoBroker.with { broker in
            let clientID = "expiry-\(UUID().uuidString.prefix(6))"
            let first = try await broker.connectedClient(clientID: clientID, session: .persistent(expiry: .seconds(300)))
            let subscription = try await first.subscribe("leitstand/test/jobs")
            await first.disconnect()
            withExtendedLifetime(subscription) {}

            let publisher = try await broker.connectedClient()
            try await publisher.publish("leitstand/test/jobs", payload: Data("stale".utf8), properties: .init(messageExpiry: .seconds(1)))
            try await publisher.publish("leitstand/test/jobs", payload: Data("fresh".utf8), properties: .init(messageExpiry: .seconds(120)))
            // The condition is the passing of time itself: the stale message's expiry must run out while the
            // subscriber is away.
            try await Task.sleep(for: .milliseconds(2_200))

            let collector = try await resumeSession(clientID, on: broker, subscribingTo: "leitstand/test/jobs")
            defer { collector.stop() }
            let first2 = try await collector.waitFor(1)
            // A marker published after the reconnect proves that everything queued before it has been delivered.
            try await publisher.publish("leitstand/test/jobs", payload: Data("marker".utf8))
            let all = try await collector.waitFor(2)
            #expect(all.map { String(decoding: $0.payload, as: UTF8.self) } == ["fresh", "marker"])
            // The forwarded copy carries what is left of its expiry, not the original 120 s.
            #expect((first2[0].messageExpiry ?? 120) < 120)
        }
    }

    @Test("request/response gets the reply matched by correlation data")
    func requestResponse() async throws {
        try await MosquittoBroker.with { broker in
            let responder = try await broker.connectedClient()
            let requesterID = "requester-\(UUID().uuidString.prefix(6))"
            let requester = try await broker.connectedClient(clientID: requesterID, responseTopic: "leitstand/reply/\(requesterID)")
            let serving = Task {
                try await responder.serveRequests(on: "leitstand/rpc/echo/+") { request in
                    Data("\(request.topic.split(separator: "/").last!):\(String(decoding: request.payload, as: UTF8.self).uppercased())".utf8)
                }
            }
            defer { serving.cancel() }
            try await waitUntil("the responder subscribed") {
                (try? await requester.request("leitstand/rpc/echo/ping", payload: Data("x".utf8), timeout: .milliseconds(200))) != nil
            }

            let replies = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        let reply = try await requester.request("leitstand/rpc/echo/m\(index)", payload: Data("hello \(index)".utf8), timeout: .seconds(5))
                        return String(decoding: reply.payload, as: UTF8.self)
                    }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(replies == Set((0..<50).map { "m\($0):HELLO \($0)" }))
        }
    }

    @Test("a request nobody answers fails with a timeout, in about the time asked for")
    func requestTimeout() async throws {
        try await MosquittoBroker.with { broker in
            let requesterID = "requester-\(UUID().uuidString.prefix(6))"
            let requester = try await broker.connectedClient(clientID: requesterID, responseTopic: "leitstand/reply/\(requesterID)")
            // Somebody subscribes (so the broker delivers the request) but never answers.
            let silent = try await broker.connectedClient()
            let listening = try await silent.subscribe("leitstand/rpc/silent/+")
            let started = ContinuousClock.now
            await #expect(throws: MQTTError.timeout(operation: "request on leitstand/rpc/silent/here")) {
                try await requester.request("leitstand/rpc/silent/here", payload: Data(), timeout: .milliseconds(300))
            }
            let elapsed = ContinuousClock.now - started
            #expect(elapsed >= .milliseconds(300) && elapsed < .seconds(2))
            listening.cancel()
        }
    }

    @Test("a request to a topic nobody subscribes to fails at once (PUBACK 0x10), not after its timeout")
    func requestWithoutSubscribers() async throws {
        try await MosquittoBroker.with { broker in
            let requesterID = "requester-\(UUID().uuidString.prefix(6))"
            let requester = try await broker.connectedClient(clientID: requesterID, responseTopic: "leitstand/reply/\(requesterID)")
            let started = ContinuousClock.now
            await #expect(throws: MQTTError.noSubscribers(topic: "leitstand/rpc/nobody/here")) {
                try await requester.request("leitstand/rpc/nobody/here", payload: Data(), timeout: .seconds(30))
            }
            #expect(ContinuousClock.now - started < .seconds(5))
            // The client is fine afterwards: a request that someone answers still works.
            let responder = try await broker.connectedClient()
            let serving = Task { try await responder.serveRequests(on: "leitstand/rpc/echo/+") { $0.payload } }
            defer { serving.cancel() }
            try await waitUntil("the responder answers") {
                (try? await requester.request("leitstand/rpc/echo/ping", payload: Data("x".utf8), timeout: .milliseconds(300)))?.payload == Data("x".utf8)
            }
        }
    }

    @Test("a request from a client without a response topic fails with a clear error")
    func requestWithoutResponseTopic() async throws {
        try await MosquittoBroker.with { broker in
            let client = try await broker.connectedClient()
            await #expect(throws: MQTTError.noResponseTopic) {
                try await client.request("leitstand/rpc/any/thing", payload: Data(), timeout: .seconds(1))
            }
        }
    }

    @Test("without a broker a request fails at once instead of waiting for its timeout")
    func requestWithoutBroker() async throws {
        try await MosquittoBroker.with { broker in
            let requesterID = "requester-\(UUID().uuidString.prefix(6))"
            let requester = try await broker.connectedClient(clientID: requesterID, responseTopic: "leitstand/reply/\(requesterID)")
            try await broker.stop()
            try await waitUntil("the client noticed") { !requester.isConnected }
            let started = ContinuousClock.now
            await #expect(throws: MQTTError.notConnected) {
                try await requester.request("leitstand/rpc/any/thing", payload: Data(), timeout: .seconds(30))
            }
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    /// Stops and starts the broker, and waits until `client` saw it go and is connected again.
    static func restart(_ broker: MosquittoBroker, reconnecting client: MQTTClient) async throws {
        try await broker.stop()
        try await waitUntil("the client saw the broker go") { !client.isConnected }
        try await broker.start()
        try await waitUntil("the client reconnected", timeout: .seconds(15)) { client.isConnected }
    }

    @Test("after a broker restart the client reconnects and resubscribes by itself")
    func reconnectAndResubscribe() async throws {
        try await MosquittoBroker.with { broker in
            let subscriber = try await broker.connectedClient()
            let collector = MessageCollector(try await subscriber.subscribe("leitstand/test/after-restart"))
            defer { collector.stop() }

            try await Self.restart(broker, reconnecting: subscriber)

            let publisher = try await broker.connectedClient()
            // The resubscription travels right after CONNACK; publish until it has been applied.
            try await waitUntil("a message arrives through the renewed subscription") {
                try await publisher.publish("leitstand/test/after-restart", payload: Data("again".utf8))
                return !collector.messages.isEmpty
            }
            #expect(collector.messages.allSatisfy { $0.payload == Data("again".utf8) })
        }
    }

    @Test("a persistent session's shared subscription still delivers after a broker restart (Mosquitto does not restore it)")
    func sharedSubscriptionAfterRestart() async throws {
        try await MosquittoBroker.with { broker in
            let subscriberID = "shared-\(UUID().uuidString.prefix(6))"
            let subscriber = try await broker.connectedClient(clientID: subscriberID, session: .persistent(expiry: .seconds(300)))
            let collector = MessageCollector(try await subscriber.subscribe("$share/group/leitstand/test/shared", qos: .atLeastOnce))
            defer { collector.stop() }

            try await Self.restart(broker, reconnecting: subscriber)

            let publisher = try await broker.connectedClient()
            try await waitUntil("a message arrives through the shared subscription", timeout: .seconds(10)) {
                try await publisher.publish("leitstand/test/shared", payload: Data("again".utf8), qos: .atLeastOnce)
                return !collector.messages.isEmpty
            }
        }
    }

    @Test("a QoS 1 message published while the broker is down is sent after the reconnect")
    func publishWhileDisconnected() async throws {
        try await MosquittoBroker.with { broker in
            let subscriberID = "sub-\(UUID().uuidString.prefix(6))"
            let subscriber = try await broker.connectedClient(clientID: subscriberID, session: .persistent(expiry: .seconds(300)))
            let collector = MessageCollector(try await subscriber.subscribe("leitstand/test/outbox"))
            defer { collector.stop() }
            let publisher = try await broker.connectedClient()

            try await broker.stop()
            try await waitUntil("the publisher saw the broker go") { !publisher.isConnected }
            let acknowledged = Mutex(false)
            let publishing = Task {
                try await publisher.publish("leitstand/test/outbox", payload: Data("kept".utf8))
                acknowledged.withLock { $0 = true }
            }
            defer { publishing.cancel() }
            try await broker.start()
            try await waitUntil("the publish was acknowledged after the reconnect", timeout: .seconds(15)) { acknowledged.withLock { $0 } }
            let messages = try await collector.waitFor(1, timeout: .seconds(15))
            #expect(messages.map { String(decoding: $0.payload, as: UTF8.self) } == ["kept"])
        }
    }

    @Test("never-send-retained keeps a retained message from a new subscriber; a plain subscription gets it")
    func retainedHandling() async throws {
        try await MosquittoBroker.with { broker in
            let publisher = try await broker.connectedClient()
            try await publisher.publish("leitstand/test/retained", payload: Data("old".utf8), retain: true)

            let client = try await broker.connectedClient()
            let withoutRetained = MessageCollector(try await client.subscribe("leitstand/test/retained", options: [.neverSendRetained]))
            defer { withoutRetained.stop() }
            let plainClient = try await broker.connectedClient()
            let plain = MessageCollector(try await plainClient.subscribe("leitstand/test/retained"))
            defer { plain.stop() }
            let retained = try await plain.waitFor(1)
            #expect(retained[0].retain)

            try await publisher.publish("leitstand/test/retained", payload: Data("live".utf8))
            let live = try await withoutRetained.waitFor(1)
            #expect(live.map { String(decoding: $0.payload, as: UTF8.self) } == ["live"])
            #expect(live[0].retain == false)
        }
    }

    @Test("a shared subscription hands each message to exactly one member of the group")
    func sharedSubscription() async throws {
        try await MosquittoBroker.with { broker in
            let first = try await broker.connectedClient()
            let second = try await broker.connectedClient()
            let a = MessageCollector(try await first.subscribe("$share/writers/leitstand/test/shared/+"))
            let b = MessageCollector(try await second.subscribe("$share/writers/leitstand/test/shared/+"))
            defer {
                a.stop()
                b.stop()
            }
            let publisher = try await broker.connectedClient()
            for index in 0..<100 {
                try await publisher.publish("leitstand/test/shared/x", payload: Data("\(index)".utf8))
            }
            try await waitUntil("all 100 arrived") { a.messages.count + b.messages.count >= 100 }
            let payloads = (a.messages + b.messages).map { String(decoding: $0.payload, as: UTF8.self) }
            #expect(Set(payloads).count == 100 && payloads.count == 100)
            #expect(!a.messages.isEmpty && !b.messages.isEmpty)
        }
    }

    @Test("the broker's ACL: a refused publish throws; a forbidden topic delivers nothing")
    func aclRefusals() async throws {
        let devicePassword = randomSecret()
        try await MosquittoBroker.with(
            aclFile: """
                user test
                topic readwrite #

                user door-device
                topic read leitstand/door/lobby/jobs
                topic write leitstand/door/lobby/confirm
                """,
            extraUsers: ["door-device": devicePassword]
        ) { broker in
            let device = try broker.client(broker.configuration(clientID: "door-device", user: "door-device", password: devicePassword))
            try await device.connect()
            let own = MessageCollector(try await device.subscribe("leitstand/door/lobby/jobs"))
            // Mosquitto 2.0's acl_file grants the SUBSCRIBE and enforces `read` when it delivers.
            let foreign = MessageCollector(try await device.subscribe("leitstand/door/garage/jobs"))
            defer {
                own.stop()
                foreign.stop()
            }
            let scheduler = try await broker.connectedClient()
            try await scheduler.publish("leitstand/door/garage/jobs", payload: Data("garage".utf8))
            try await scheduler.publish("leitstand/door/lobby/jobs", payload: Data("lobby".utf8))
            _ = try await own.waitFor(1)
            // Both went through the same broker queue in order: had the garage job been delivered, it would be here.
            #expect(foreign.messages.isEmpty)

            try await device.publish("leitstand/door/lobby/confirm", payload: Data("{}".utf8))
            await #expect(throws: MQTTError.refused(operation: "publish", reasonCode: 0x87)) {
                try await device.publish("leitstand/door/garage/confirm", payload: Data("{}".utf8))
            }
        }
    }

    @Test("a batch publish returns when every message is acknowledged, and all of them arrive in order")
    func batchPublish() async throws {
        try await MosquittoBroker.with { broker in
            let subscriber = try await broker.connectedClient()
            let collector = MessageCollector(try await subscriber.subscribe("leitstand/test/batch"))
            defer { collector.stop() }
            let publisher = try await broker.connectedClient()
            let batch = (0..<500).map { MQTTOutgoingMessage(topic: "leitstand/test/batch", payload: Data("\($0)".utf8)) }
            try await publisher.publish(batch: batch)
            let messages = try await collector.waitFor(500)
            #expect(messages.map { String(decoding: $0.payload, as: UTF8.self) } == (0..<500).map { "\($0)" })
        }
    }

    @Test("one refused message fails its batch; QoS 0 without a connection fails at once")
    func batchRefusalAndQoS0() async throws {
        let devicePassword = randomSecret()
        try await MosquittoBroker.with(
            aclFile: "user door-device\ntopic write leitstand/door/lobby/confirm\n",
            extraUsers: ["door-device": devicePassword]
        ) { broker in
            let device = try broker.client(broker.configuration(user: "door-device", password: devicePassword))
            try await device.connect()
            let allowed = MQTTOutgoingMessage(topic: "leitstand/door/lobby/confirm", payload: Data("{}".utf8))
            let forbidden = MQTTOutgoingMessage(topic: "leitstand/door/garage/confirm", payload: Data("{}".utf8))
            try await device.publish(batch: [allowed, allowed])
            await #expect(throws: MQTTError.refused(operation: "publish", reasonCode: 0x87)) {
                try await device.publish(batch: [allowed, forbidden, allowed])
            }
            try await broker.stop()
            try await waitUntil("the client noticed") { !device.isConnected }
            await #expect(throws: MQTTError.notConnected) {
                try await device.publish("leitstand/door/lobby/confirm", payload: Data(), qos: .atMostOnce)
            }
        }
    }

    @Test("cancelling publishes and requests while their acknowledgements arrive never deadlocks")
    func cancellationWhileAcknowledging() async throws {
        try await MosquittoBroker.with { broker in
            let responder = try await broker.connectedClient()
            let requesterID = "requester-\(UUID().uuidString.prefix(6))"
            let client = try await broker.connectedClient(clientID: requesterID, responseTopic: "leitstand/reply/\(requesterID)")
            let serving = Task { try await responder.serveRequests(on: "leitstand/rpc/stress/+") { $0.payload } }
            defer { serving.cancel() }
            let finished = Mutex(false)
            // The runtime holds a task's status lock while running its cancellation handler; a client that resumed
            // continuations under its own lock deadlocked here. A deadlocked task cannot be cancelled, so the test
            // watches a flag with a deadline instead of awaiting the work.
            let stress = Task {
                for round in 0..<400 {
                    let work = Task {
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            for index in 0..<120 {
                                group.addTask {
                                    if index.isMultiple(of: 3) {
                                        _ = try await client.request("leitstand/rpc/stress/\(round)", payload: Data([1]), timeout: .seconds(5))
                                    } else {
                                        try await client.publish("leitstand/test/stress", payload: Data([2]))
                                    }
                                }
                            }
                            try await group.waitForAll()
                        }
                    }
                    try? await Task.sleep(for: .microseconds(Int.random(in: 100...1_500)))
                    work.cancel()
                    _ = await work.result
                }
                finished.withLock { $0 = true }
            }
            do {
                try await waitUntil("400 rounds of cancelled work finished", timeout: .seconds(60)) { finished.withLock { $0 } }
            } catch {
                stress.cancel()
                throw error
            }
            // The client still works afterwards.
            try await client.publish("leitstand/test/stress", payload: Data([3]))
            _ = try await client.request("leitstand/rpc/stress/after", payload: Data([4]), timeout: .seconds(5))
        }
    }

    @Test("a wrong password is refused and the client does not pretend to be connected")
    func wrongPassword() async throws {
        try await MosquittoBroker.with { broker in
            let client = try broker.client(broker.configuration(password: "wrong"))
            await #expect(throws: MQTTError.self) { try await client.connect(timeout: .milliseconds(800)) }
            #expect(!client.isConnected)
        }
    }
}

@Suite("MQTT configuration")
struct MQTTConfigurationTests {
    @Test("an mqtt URL gives host, port and credentials")
    func parsesURL() throws {
        let configuration = try MQTTConfiguration(url: "mqtt://svc:p%40ss@broker.local:1884", clientID: "c")
        #expect(configuration.host == "broker.local")
        #expect(configuration.port == 1884)
        #expect(configuration.username == "svc")
        #expect(configuration.password == "p@ss")
        #expect(!configuration.useTLS)
        #expect(try MQTTConfiguration(url: "mqtt://h", clientID: "c").port == 1883)
    }

    @Test("bad URLs are refused with a reason", arguments: [
        "http://host:1883", "mqtt://:1883", "mqtts://host", "not a url", "mqtt://host:99999", "mqtt://host/path",
    ])
    func refusesBadURLs(url: String) {
        #expect(throws: MQTTError.self) { try MQTTConfiguration(url: url, clientID: "c") }
    }

    @Test("mqtts with a CA file uses TLS on 8883 by default")
    func tls() throws {
        let configuration = try MQTTConfiguration(url: "mqtts://h", caFile: "/etc/ssl/ca.pem", clientID: "c")
        #expect(configuration.useTLS && configuration.port == 8883)
    }

    @Test("shared-subscription filters match like the filter behind the group")
    func sharedFilterMatching() {
        #expect(MQTTClient.topic("leitstand/ingest/a", matches: "$share/writers/leitstand/ingest/+"))
        #expect(!MQTTClient.topic("leitstand/other/a", matches: "$share/writers/leitstand/ingest/+"))
        #expect(MQTTClient.topic("leitstand/svc/x/status", matches: "leitstand/svc/+/status"))
    }
}
