import CMosquitto
import Foundation
import Logging
import Synchronization

extension MQTTClient {
    private var isStopping: Bool { state.withLock { $0.lifecycle != .running } }

    /// The body of the network thread: connect, service the socket, and after any failure wait with
    /// exponential backoff and jitter before connecting again, until ``disconnect()``.
    ///
    /// Reconnects go through `mosquitto_connect_bind_v5` with the CONNECT properties every time:
    /// `mosquitto_reconnect` would send none, and a persistent session would silently lose its expiry.
    ///
    /// The backoff starts over only after a connection that lasted ``MQTTConfiguration/connectionStableAfter``,
    /// not after every successful CONNECT: when two processes share a client id, the broker accepts each and drops
    /// the other, and both reconnected within a second, forever (17 takeovers in 30 s, issue 10, item 10).
    func runNetworkLoop() {
        var attempts = 0
        var failedConnects = 0
        var socketOpen = false
        var pause = ReadPause()
        while !isStopping {
            if !socketOpen {
                let rc = openConnection()
                if rc != MOSQ_ERR_SUCCESS.rawValue {
                    failedConnects += 1
                    logConnectFailure(String(cString: mosquitto_strerror(rc)), attempt: failedConnects)
                    attempts += 1
                    waitBeforeReconnect(attempt: attempts)
                    continue
                }
                socketOpen = true
            }
            let rc = serviceConnection(&pause)
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                socketOpen = false
                if isStopping { break }
                let reason = Self.describeDisconnect(rc)
                markDisconnected(reason: reason)
                if let connectedFor = lastConnectionLength() {
                    // A new outage: its first failed reconnect is logged at warning again.
                    failedConnects = 0
                    if connectedFor >= configuration.connectionStableAfter { attempts = 0 }
                } else {
                    // Lost before the broker accepted the CONNECT (refused, or closed during the handshake).
                    failedConnects += 1
                    logConnectFailure(reason, attempt: failedConnects)
                }
                attempts += 1
                waitBeforeReconnect(attempt: attempts)
            }
        }
        sendDisconnect()
        finishNetworkThread()
    }

    /// After ``disconnect()``: sends DISCONNECT and waits until the broker has taken it, so that it does not publish
    /// our last will. Under incoming traffic the will fired in 17 of 20 disconnects (issue 10, item 12), for two
    /// reasons. `mosquitto_disconnect_v5` marks the connection disconnected, after which libmosquitto treats every
    /// incoming PUBLISH as a protocol error and closes the socket before the DISCONNECT is out
    /// (lib/handle_publish.c); and libmosquitto closes the socket right after writing the DISCONNECT, which, with
    /// unread messages in the socket, makes the kernel send a reset, and a reset makes the broker's kernel drop
    /// what it had not read yet: the DISCONNECT. So here, without reading through libmosquitto any more: what was
    /// queued before goes out through libmosquitto, then the DISCONNECT (two bytes, reason 0) is written to the
    /// socket directly, the sending side is shut, and what still arrives is discarded until the broker closes the
    /// connection, which it does once it has read the DISCONNECT. Unacknowledged QoS 1 messages discarded here are
    /// sent again to a persistent session. Everything is bounded in time, for a broker that no longer answers.
    private func sendDisconnect() {
        let socket = mosquitto_socket(handle)
        guard socket >= 0, state.withLock({ $0.isConnected }) else { return }
        let deadline = ContinuousClock.now + .seconds(2)
        func wait(for events: Int32) -> Bool {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { return false }
            var descriptor = pollfd(fd: socket, events: Int16(events), revents: 0)
            return poll(&descriptor, 1, Int32(left.milliseconds + 1)) >= 0
        }
        while mosquitto_want_write(handle) {
            guard wait(for: POLLOUT), mosquitto_loop_write(handle, 1) == MOSQ_ERR_SUCCESS.rawValue, mosquitto_socket(handle) == socket else {
                return logUnfinishedDisconnect()
            }
        }
        let disconnectPacket: [UInt8] = [0xE0, 0x00]
        var written = 0
        while written < disconnectPacket.count {
            guard wait(for: POLLOUT) else { return logUnfinishedDisconnect() }
            let count = disconnectPacket[written...].withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno != EAGAIN && errno != EINTR { return logUnfinishedDisconnect() }
            written += max(count, 0)
        }
        shutdown(socket, Int32(SHUT_WR))
        var discarded = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = recv(socket, &discarded, discarded.count, Int32(MSG_DONTWAIT))
            if count == 0 { return }
            if count < 0 && errno != EAGAIN && errno != EINTR { return }
            if count < 0 && !wait(for: POLLIN) { return logUnfinishedDisconnect() }
        }
    }

    private func logUnfinishedDisconnect() {
        logger.warning("MQTT DISCONNECT not confirmed by the broker in time; it may publish the last will")
    }

    /// One round of the loop: wait until the socket is readable (unless a full subscription buffer pauses reading),
    /// or writable while output is pending, or the thread is woken; then read what arrived, write what is queued,
    /// and keep the connection alive.
    private func serviceConnection(_ pause: inout ReadPause) -> Int32 {
        let socket = mosquitto_socket(handle)
        guard socket >= 0 else { return MOSQ_ERR_NO_CONN.rawValue }
        // Before deciding: a consumer that drains its buffer (or a new waiter) after this wakes the poll below.
        wakeup.prepareToSleep()
        let now = ContinuousClock.now
        let reading = shouldRead(&pause, now: now)
        let writing = mosquitto_want_write(handle)
        var descriptors = [
            pollfd(fd: socket, events: (reading ? Int16(POLLIN) : 0) | (writing ? Int16(POLLOUT) : 0), revents: 0),
            pollfd(fd: wakeup.descriptor, events: Int16(POLLIN), revents: 0),
        ]
        // At most a second, so that keep-alive pings go out on time, and no longer than the next request deadline.
        var timeout: Duration = .seconds(1)
        if let deadline = expireRequests(now: now) { timeout = min(timeout, now.duration(to: deadline)) }
        if !reading { timeout = min(timeout, untilKeepAlive(pause, now: now)) }
        _ = poll(&descriptors, 2, Int32(max(0, timeout.milliseconds + 1)))
        wakeup.awake()
        // Paused, the socket is still read when it reports an error or hang-up, to notice the lost connection.
        let readable = reading ? descriptors[0].revents != 0 : descriptors[0].revents & Int16(POLLERR | POLLHUP) != 0
        if readable {
            let rc = mosquitto_loop_read(handle, 1)
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { return rc }
        }
        if mosquitto_want_write(handle) {
            let rc = mosquitto_loop_write(handle, 1)
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { return rc }
        }
        reportBuffered(&pause)
        guard reading else {
            keepAliveWhilePaused(&pause, now: ContinuousClock.now)
            return MOSQ_ERR_SUCCESS.rawValue
        }
        return mosquitto_loop_misc(handle)
    }

    /// Fails the requests whose deadline has passed; returns the next deadline (one lock per round of the loop).
    private func expireRequests(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        var resumptions = Resumptions()
        let next = state.withLock { state in
            state.requests.expire(now: now, &resumptions)
            return state.requests.nextDeadline
        }
        resumptions.run()
        return next
    }

    private func openConnection() -> Int32 {
        var properties = MosquittoPropertyList()
        if case .persistent(let expiry) = configuration.session {
            properties.add(int32: Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue), expiry.wholeSeconds)
        }
        let keepAlive = Int32(max(5, configuration.keepAlive.components.seconds))
        return mosquitto_connect_bind_v5(handle, configuration.host, Int32(configuration.port), keepAlive, nil, properties.pointer)
    }

    /// The first failure of every outage at warning, then every tenth: a broker that is down for an hour must not
    /// flood the log, and must not be silent either (the first failure was logged at debug only, issue 10 item 14).
    private func logConnectFailure(_ reason: String, attempt: Int) {
        let level: Logger.Level = attempt == 1 || attempt % 10 == 0 ? .warning : .debug
        logger.log(level: level, "MQTT connect failed", metadata: [
            "mqtt.broker": "\(configuration.host):\(configuration.port)", "error": "\(reason)", "attempt": "\(attempt)",
        ])
    }

    /// Marks the connection lost (noting how long it lasted, for the backoff) and fails what waited on it.
    func markDisconnected(reason: String) {
        var resumptions = Resumptions()
        let (connectedFor, intended) = state.withLock { state in
            defer {
                state.isConnected = false
                state.connectedSince = nil
                // A SUBACK that never came: the route stays ungranted and is sent again on the next connect.
                state.subscribes.resumeAll(with: .success(-1), &resumptions)
                // Replies to a clean session's reply topic are lost with the connection: fail fast, do not wait.
                state.requests.failAll(.notConnected, &resumptions)
                state.pings.resumeAll(with: .failure(MQTTError.notConnected), &resumptions)
            }
            let connectedFor = state.connectedSince.map { ContinuousClock.now - $0 }
            if let connectedFor { state.lastConnectionLength = connectedFor }
            return (connectedFor, state.lifecycle != .running)
        }
        resumptions.run()
        if let connectedFor, !intended {
            logger.warning("MQTT connection lost", metadata: ["error": "\(reason)", "mqtt.connectedFor": "\(connectedFor)"])
        }
    }

    /// How long the connection that just ended lasted (nil if it never got accepted), read once: usually the
    /// disconnect callback has marked it lost before the loop sees the failure.
    private func lastConnectionLength() -> Duration? {
        state.withLock { state in
            defer { state.lastConnectionLength = nil }
            return state.lastConnectionLength
        }
    }

    private func waitBeforeReconnect(attempt: Int) {
        let lower = Double(configuration.reconnectDelay.lowerBound.milliseconds)
        let upper = Double(configuration.reconnectDelay.upperBound.milliseconds)
        let exponential = min(upper, lower * pow(2, Double(min(attempt - 1, 20))))
        // Jitter spreads the reconnects of many clients after a broker restart.
        let delayMs = exponential * Double.random(in: 0.75...1.0)
        if !isStopping { wakeup.wait(milliseconds: Int32(delayMs)) }
    }

    private func finishNetworkThread() {
        markDisconnected(reason: "client shut down")
        var resumptions = Resumptions()
        let exitWaiters = state.withLock { state in
            state.lifecycle = .stopped
            state.subscribes.resumeAll(with: .failure(MQTTError.shutDown), &resumptions)
            state.requests.failAll(.shutDown, &resumptions)
            state.pings.resumeAll(with: .failure(MQTTError.shutDown), &resumptions)
            for waiter in state.connectWaiters.values { resumptions.resume(waiter, with: .failure(MQTTError.shutDown)) }
            state.connectWaiters.removeAll()
            // Finishing a stream runs its termination handler, which takes the lock: it too waits until after.
            for route in state.routes.values {
                route.buffer?.retire()
                if let source = route.source { resumptions.finish(source) }
            }
            state.routes.removeAll()
            state.topicTree = TopicTree()
            state.routesPerFilter.removeAll()
            defer { state.threadExitWaiters.removeAll() }
            return Array(state.threadExitWaiters.values)
        }
        publishAcknowledgements.withLock { $0.failAll(MQTTError.shutDown, &resumptions) }
        resumptions.run()
        mosquitto_destroy(handle)
        Unmanaged.passUnretained(self).release()
        for waiter in exitWaiters { waiter.resume() }
    }
}
