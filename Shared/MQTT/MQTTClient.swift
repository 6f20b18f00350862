import CMosquitto
import Foundation
import Logging
import Metrics
import NIOCore
import Synchronization

/// An MQTT v5 client over libmosquitto, for Swift concurrency.
///
/// ## Threading model
/// One dedicated network thread per client (started by ``start()``) connects, reconnects with exponential
/// backoff, and services the socket (`poll`, `mosquitto_loop_read`/`_write`/`_misc`). libmosquitto is put in
/// threaded mode, so calls from any other thread (publish, subscribe) only queue a packet and wake the network
/// thread through an eventfd (`LoopWakeup`).
/// Every libmosquitto callback runs on the network thread: it copies what it needs out of the library's buffers,
/// takes a lock for a few instructions to find the waiters or subscriptions concerned (through a `TopicTree`),
/// releases it, and only then resumes the continuations or yields into the subscriptions' buffers (see
/// `Resumptions` for why never under a lock). Nothing in a callback blocks or awaits; all real work happens in the
/// tasks that consume the messages. The buffers are bounded: while one is full the thread stops reading the socket
/// (`ReadPressure`), so that a consumer that does not keep up leaves its backlog with the broker.
///
/// ## Lifetime
/// The client retains itself as libmosquitto's user-data pointer from ``start()`` until the network thread has
/// ended after ``disconnect()``, so a callback can never see a freed object. Call ``disconnect()`` when done.
public final class MQTTClient: Sendable {
    public let configuration: MQTTConfiguration
    let logger: Logger

    /// libmosquitto's handle. Shared across threads on purpose: in threaded mode libmosquitto guards its own
    /// queues with its mutexes; the handle itself never changes until `mosquitto_destroy` after the thread ended.
    nonisolated(unsafe) let handle: OpaquePointer
    let state = Mutex(State())
    let publishAcknowledgements = Mutex(PublishAcknowledgements())
    private let tokens = Atomic<UInt64>(0)
    /// Wakes the network thread when a packet is queued or the client shuts down.
    let wakeup: LoopWakeup
    /// Whether a subscription's buffer is full, which stops the network thread reading.
    let readPressure = ReadPressure()
    let metrics: MQTTClientMetrics

    struct Route {
        var filter: String
        var qos: MQTTQoS
        var options: MQTTSubscriptionOptions
        /// Where its messages go; nil for the client's own reply subscription: replies resume requests, they are
        /// never buffered.
        var source: SubscriptionBuffer.Sequence.Source?
        var buffer: SubscriptionBuffer?
        /// Whether the broker has granted it in the current session; if not, it is (re)sent on the next connect.
        var granted: Bool
    }

    enum Lifecycle { case idle, running, stopping, stopped }

    struct State {
        var lifecycle = Lifecycle.idle
        var isConnected = false
        /// When the broker accepted the current connection.
        var connectedSince: ContinuousClock.Instant?
        /// How long the last connection lasted, until the network loop has read it for its backoff.
        var lastConnectionLength: Duration?
        var connectWaiters: [UInt64: CheckedContinuation<Void, any Error>] = [:]
        var subscribes = PendingAcknowledgements<Int32>()
        /// ``ping(timeout:)``s waiting for their UNSUBACK, by message id.
        var pings = PendingAcknowledgements<Void>()
        var requests = PendingRequests()
        var routes: [UInt64: Route] = [:]
        /// The routes that stream messages, by filter, for matching incoming topics.
        var topicTree = TopicTree()
        /// How many routes use each filter: the broker's subscription ends with the last of them.
        var routesPerFilter: [String: Int] = [:]
        /// Subscriptions re-sent after a reconnect, by message id, so their SUBACK can mark the routes granted.
        var resubscriptions: [Int32: [UInt64]] = [:]
        var threadExitWaiters: [UInt64: CheckedContinuation<Void, any Error>] = [:]
    }

    private static let libraryInitialised: Bool = {
        mosquitto_lib_init()
        return true
    }()

    /// `metricsFactory`: where the client's metrics go (`leitstand_mqtt_*`); by default the process's
    /// `MetricsSystem`, which must then be bootstrapped before the client is made.
    public init(configuration: MQTTConfiguration, logger: Logger, metricsFactory: any MetricsFactory = MetricsSystem.factory) throws(MQTTError) {
        precondition(Self.libraryInitialised)
        metrics = MQTTClientMetrics(factory: metricsFactory)
        let keepSession: Bool
        if case .persistent = configuration.session { keepSession = true } else { keepSession = false }
        guard let handle = mosquitto_new(configuration.clientID, !keepSession, nil) else {
            throw .library(operation: "mosquitto_new", code: MOSQ_ERR_NOMEM.rawValue, message: "out of memory or invalid client id")
        }
        self.handle = handle
        do {
            wakeup = try LoopWakeup()
        } catch {
            mosquitto_destroy(handle)
            throw error
        }
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "mqtt.client"] = "\(configuration.clientID)"
        self.logger = logger
        do {
            try configureHandle()
        } catch {
            mosquitto_destroy(handle)
            throw error
        }
        if let responseTopic = configuration.responseTopic {
            let token = makeToken()
            state.withLock { state in
                state.addRoute(Route(filter: responseTopic, qos: .atLeastOnce, options: [], source: nil, buffer: nil, granted: false), token: token)
            }
        }
    }

    private func configureHandle() throws(MQTTError) {
        try check("MOSQ_OPT_PROTOCOL_VERSION", mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5))
        // Without TCP_NODELAY on both ends a request/response round trip costs 40–90 ms instead of ~0.2 ms.
        try check("MOSQ_OPT_TCP_NODELAY", mosquitto_int_option(handle, MOSQ_OPT_TCP_NODELAY, 1))
        try check("mosquitto_threaded_set", mosquitto_threaded_set(handle, true))
        let window = Int32(min(max(configuration.inflightWindow, 1), 65_535))
        try check("MOSQ_OPT_SEND_MAXIMUM", mosquitto_int_option(handle, MOSQ_OPT_SEND_MAXIMUM, window))
        try check("MOSQ_OPT_RECEIVE_MAXIMUM", mosquitto_int_option(handle, MOSQ_OPT_RECEIVE_MAXIMUM, window))
        if configuration.username != nil || configuration.password != nil {
            try check("mosquitto_username_pw_set", mosquitto_username_pw_set(handle, configuration.username, configuration.password))
        }
        if configuration.useTLS {
            try check("mosquitto_tls_set", mosquitto_tls_set(handle, configuration.caFile, nil, nil, nil, nil))
        }
        if let will = configuration.will {
            let bytes = PacketSize.connect(with: will, configuration: configuration)
            guard bytes <= configuration.maximumPacketSize else {
                throw .payloadTooLarge(topic: will.topic, bytes: bytes, limit: configuration.maximumPacketSize)
            }
            let rc = will.payload.withUnsafeBytes { bytes in
                mosquitto_will_set_v5(handle, will.topic, Int32(bytes.count), bytes.baseAddress, MQTTQoS.atLeastOnce.rawValue, will.retain, nil)
            }
            try check("mosquitto_will_set_v5", rc)
        }
        installCallbacks()
    }

    func check(_ operation: String, _ rc: Int32) throws(MQTTError) {
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw .library(operation: operation, code: rc, message: String(cString: mosquitto_strerror(rc)))
        }
    }

    /// QoS 1/2 publishes awaiting their PUBACK (see ``MQTTConfiguration/maximumPendingPublishes``).
    public var pendingPublishes: Int { publishAcknowledgements.withLock { $0.pendingCount } }

    /// True while the broker has accepted our CONNECT and the connection has not been lost since.
    public var isConnected: Bool { state.withLock { $0.isConnected } }

    /// Starts the network thread, which connects and keeps reconnecting until ``disconnect()``. Returns at once.
    public func start() {
        let shouldStart = state.withLock { state in
            guard state.lifecycle == .idle else { return false }
            state.lifecycle = .running
            return true
        }
        guard shouldStart else { return }
        _ = Unmanaged.passRetained(self)
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        let thread = Thread { [self] in runNetworkLoop() }
        thread.name = "mqtt \(configuration.clientID)"
        thread.start()
    }

    /// Starts the client if needed and waits until the broker has accepted the connection.
    public func connect(timeout: Duration = .seconds(10)) async throws {
        start()
        try await withTimeout(timeout, operation: "connect to \(configuration.host):\(configuration.port)") {
            try await self.waitUntilConnected()
        }
    }

    /// Waits (cancellably) until the client is connected.
    public func waitUntilConnected() async throws {
        try await suspend(in: \.connectWaiters) { state in
            if state.isConnected { return .success(()) }
            if state.lifecycle == .stopping || state.lifecycle == .stopped { return .failure(MQTTError.shutDown) }
            return nil
        }
    }

    /// Publishes a message. For QoS 1 and 2 it returns when the broker has acknowledged it (which says the broker
    /// has it, never that a subscriber processed it), with ``MQTTDelivery/noMatchingSubscribers`` when the broker
    /// had nobody to deliver it to; it throws ``MQTTError/refused(operation:reasonCode:)`` when the broker refused
    /// it, e.g. because the ACL does not allow this topic.
    /// While disconnected, a QoS 1 or 2 publish waits for the reconnect and is sent then (bound it with a timeout
    /// or cancellation); QoS 0 fails with ``MQTTError/notConnected``.
    @discardableResult
    public func publish(
        _ topic: String,
        payload: Data,
        qos: MQTTQoS = .atLeastOnce,
        retain: Bool = false,
        properties: MQTTPublishProperties = .init()
    ) async throws -> MQTTDelivery {
        let messageID = try enqueuePublish(topic, payload: payload, qos: qos, retain: retain, properties: properties)
        return try await awaitAcknowledgements(of: [messageID], qos: qos)
    }

    /// Publishes several messages and returns when the broker has acknowledged all of them (QoS 1/2), throwing the
    /// first refusal. One wait for the whole batch: a client streaming many messages saves a task wake-up per
    /// message. Disconnects behave as for ``publish(_:payload:qos:retain:properties:)``.
    public func publish(batch messages: [MQTTOutgoingMessage], qos: MQTTQoS = .atLeastOnce) async throws {
        for message in messages {
            try checkSize(of: message.topic, payload: message.payload, qos: qos, properties: message.properties)
        }
        if qos != .atMostOnce {
            try publishAcknowledgements.withLock { acknowledgements throws(MQTTError) in
                try acknowledgements.reserve(messages.count, limit: configuration.maximumPendingPublishes)
            }
        }
        var messageIDs: [Int32] = []
        messageIDs.reserveCapacity(messages.count)
        do {
            for message in messages {
                messageIDs.append(
                    try enqueuePublish(message.topic, payload: message.payload, qos: qos, retain: message.retain, properties: message.properties, slot: .alreadyTaken)
                )
            }
        } catch {
            // What was queued before the failure is still sent; nobody waits for it any more.
            var resumptions = Resumptions()
            publishAcknowledgements.withLock { acknowledgements in
                acknowledgements.ignore(messageIDs: messageIDs, counted: qos != .atMostOnce, &resumptions)
                if qos != .atMostOnce { acknowledgements.release(messages.count - messageIDs.count - 1) }
            }
            resumptions.run()
            throw error
        }
        _ = try await awaitAcknowledgements(of: messageIDs, qos: qos)
    }

    private func awaitAcknowledgements(of messageIDs: [Int32], qos: MQTTQoS) async throws -> MQTTDelivery {
        guard qos != .atMostOnce else {
            var resumptions = Resumptions()
            publishAcknowledgements.withLock { $0.ignore(messageIDs: messageIDs, counted: false, &resumptions) }
            resumptions.run()
            return .delivered
        }
        let token = makeToken()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<MQTTDelivery, any Error>) in
                var resumptions = Resumptions()
                publishAcknowledgements.withLock { acknowledgements in
                    if Task.isCancelled {
                        acknowledgements.ignore(messageIDs: messageIDs, &resumptions)
                        resumptions.resume(continuation, with: .failure(CancellationError()))
                    } else {
                        acknowledgements.wait(messageIDs: messageIDs, token: token, continuation: continuation, &resumptions)
                    }
                }
                resumptions.run()
                // A network thread that paused reading for a full subscription reads again for this waiter.
                if readPressure.isFull { wakeup.wakeIfSleeping() }
            }
        } onCancel: {
            var resumptions = Resumptions()
            publishAcknowledgements.withLock { $0.cancel(token: token, &resumptions) }
            resumptions.run()
        }
    }

    private func waitForNetworkThreadExit() async throws {
        try await suspend(in: \.threadExitWaiters) { $0.lifecycle == .stopped ? .success(()) : nil }
    }

    /// Suspends until someone resumes the continuation stored in `waiters`, unless `outcome` (checked under the lock)
    /// already decides; cancellation withdraws the waiter and throws `CancellationError`.
    private func suspend(
        in waiters: any WritableKeyPath<State, [UInt64: CheckedContinuation<Void, any Error>]> & Sendable,
        outcome: @escaping (State) -> Result<Void, any Error>?
    ) async throws {
        let token = makeToken()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let decided = state.withLock { state -> Result<Void, any Error>? in
                    if let outcome = outcome(state) { return outcome }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state[keyPath: waiters][token] = continuation
                    return nil
                }
                if let decided { continuation.resume(with: decided) }
            }
        } onCancel: {
            state.withLock { $0[keyPath: waiters].removeValue(forKey: token) }?.resume(throwing: CancellationError())
        }
    }

    /// A process-wide unique number, to withdraw a waiter without knowing its message id.
    func makeToken() -> UInt64 {
        tokens.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// Refuses a message whose packet would exceed the broker's maximum packet size, connected or not.
    func checkSize(of topic: String, payload: Data, qos: MQTTQoS, properties: MQTTPublishProperties) throws(MQTTError) {
        let bytes = PacketSize.publish(topic: topic, payloadBytes: payload.count, qos: qos, properties: properties)
        guard bytes <= configuration.maximumPacketSize else {
            throw .payloadTooLarge(topic: topic, bytes: bytes, limit: configuration.maximumPacketSize)
        }
    }

    /// How a QoS 1/2 publish takes its place among the ``MQTTConfiguration/maximumPendingPublishes``.
    enum PendingSlot {
        /// Reserve one now, or fail with ``MQTTError/tooManyPendingPublishes``.
        case take
        /// Reserve one even beyond the limit: the birth message (one per connect) must not be refused.
        case takeBeyondLimit
        /// A batch reserved its slots at once, before queueing any of them.
        case alreadyTaken
    }

    /// Hands a PUBLISH to libmosquitto (which queues it for the network thread) and returns its message id. A QoS 1/2
    /// publish holds a pending slot from here: the caller hands the id to `wait`, `ignore` or `watch` of
    /// ``PublishAcknowledgements``. On failure the slot is given back.
    func enqueuePublish(
        _ topic: String,
        payload: Data,
        qos: MQTTQoS,
        retain: Bool,
        properties: MQTTPublishProperties,
        slot: PendingSlot = .take
    ) throws(MQTTError) -> Int32 {
        let counted = qos != .atMostOnce
        if slot != .alreadyTaken {
            try checkSize(of: topic, payload: payload, qos: qos, properties: properties)
            if counted {
                let limit = slot == .take ? configuration.maximumPendingPublishes : Int.max
                try publishAcknowledgements.withLock { acknowledgements throws(MQTTError) in try acknowledgements.reserve(1, limit: limit) }
            }
        }
        let list = MosquittoPropertyList(publish: properties)
        var messageID: Int32 = 0
        let rc = payload.withUnsafeBytes { bytes in
            mosquitto_publish_v5(handle, &messageID, topic, Int32(bytes.count), bytes.baseAddress, qos.rawValue, retain, list.pointer)
        }
        wakeup.wakeIfSleeping()
        if rc == MOSQ_ERR_NO_CONN.rawValue {
            // For QoS 1 and 2 libmosquitto has queued the message all the same and sends it after the reconnect;
            // publishing it again would duplicate it. QoS 0 is gone.
            if qos == .atMostOnce { throw .notConnected }
            return messageID
        }
        do {
            try check("publish to \(topic)", rc)
        } catch {
            if counted { publishAcknowledgements.withLock { $0.release(1) } }
            throw error
        }
        return messageID
    }

    /// Ends the connection with a clean DISCONNECT (so the broker does not publish the will), stops the network
    /// thread, and fails whatever still waits with ``MQTTError/shutDown``.
    public func disconnect() async {
        enum Step { case destroyNow, sendDisconnectAndWait, wait, nothing }
        let step = state.withLock { state -> Step in
            switch state.lifecycle {
            case .idle:
                state.lifecycle = .stopped
                return .destroyNow
            case .running:
                state.lifecycle = .stopping
                return .sendDisconnectAndWait
            case .stopping: return .wait
            case .stopped: return .nothing
            }
        }
        switch step {
        case .nothing:
            return
        case .destroyNow:
            mosquitto_destroy(handle)
            return
        case .sendDisconnectAndWait:
            // The network thread sends the DISCONNECT when it sees `stopping` (see `sendDisconnect`).
            wakeup.signal()
        case .wait:
            break
        }
        do {
            try await withTimeout(.seconds(5), operation: "MQTT network thread exit") { try await self.waitForNetworkThreadExit() }
        } catch {
            // The thread is stuck in a blocking call (a TCP connect to an unreachable host can take minutes).
            // It finishes and frees the handle by itself; shutdown must not wait for it.
            logger.warning("MQTT network thread did not stop in time; leaving it to finish", metadata: ["error": "\(error)"])
        }
    }
}
