import CMosquitto
import Foundation
import Logging
import Metrics
import Synchronization

/// The libmosquitto callbacks. They run on the network thread, capture nothing, find the client through the
/// user-data pointer, copy what they need and return quickly (see the threading model on ``MQTTClient``).
extension MQTTClient {
    private static func client(_ userData: UnsafeMutableRawPointer?) -> MQTTClient? {
        guard let userData else { return nil }
        return Unmanaged<MQTTClient>.fromOpaque(userData).takeUnretainedValue()
    }

    func installCallbacks() {
        mosquitto_connect_v5_callback_set(handle) { _, userData, reasonCode, flags, _ in
            MQTTClient.client(userData)?.didConnect(reasonCode: reasonCode, sessionPresent: flags & 1 != 0)
        }
        mosquitto_disconnect_v5_callback_set(handle) { _, userData, code, _ in
            MQTTClient.client(userData)?.didDisconnect(code: code)
        }
        mosquitto_unsubscribe_v5_callback_set(handle) { _, userData, messageID, _ in
            MQTTClient.client(userData)?.didUnsubscribe(messageID: messageID)
        }
        mosquitto_publish_v5_callback_set(handle) { _, userData, messageID, reasonCode, _ in
            MQTTClient.client(userData)?.didPublish(messageID: messageID, reasonCode: reasonCode)
        }
        mosquitto_subscribe_v5_callback_set(handle) { _, userData, messageID, count, granted, _ in
            let first = count > 0 ? granted?.pointee ?? 0x80 : 0x80
            MQTTClient.client(userData)?.didSubscribe(messageID: messageID, reasonCode: first)
        }
        mosquitto_message_v5_callback_set(handle) { _, userData, message, properties in
            guard let message else { return }
            MQTTClient.client(userData)?.didReceive(MQTTMessage(copying: message.pointee, properties: properties))
        }
    }

    private func didConnect(reasonCode: Int32, sessionPresent: Bool) {
        guard reasonCode == 0 else {
            let reason = String(cString: mosquitto_reason_string(reasonCode))
            logger.error("MQTT broker refused the connection", metadata: ["reason": "\(reason)", "reasonCode": "\(reasonCode)"])
            return
        }
        let waiters = state.withLock { state in
            state.isConnected = true
            state.connectedSince = ContinuousClock.now
            // Every subscription is sent again, also into a session the broker kept: Mosquitto 2.0 restores a
            // persistent session from its persistence file after a restart, but not the session's shared
            // subscriptions (MQTTClientTests.sharedSubscriptionAfterRestart). A repeated SUBSCRIBE replaces the
            // same subscription and keeps the session's queued messages.
            for token in state.routes.keys { state.routes[token]?.granted = false }
            var ungranted: [String: (qos: MQTTQoS, options: MQTTSubscriptionOptions, tokens: [UInt64])] = [:]
            for (token, route) in state.routes where !route.granted {
                ungranted[route.filter, default: (route.qos, route.options, [])].tokens.append(token)
            }
            for (filter, subscription) in ungranted {
                var messageID: Int32 = 0
                if mosquitto_subscribe_v5(handle, &messageID, filter, subscription.qos.rawValue, subscription.options.rawValue, nil)
                    == MOSQ_ERR_SUCCESS.rawValue
                {
                    state.resubscriptions[messageID] = subscription.tokens
                }
            }
            defer { state.connectWaiters.removeAll() }
            return state.connectWaiters.values
        }
        logger.info("MQTT connected", metadata: [
            "mqtt.broker": "\(configuration.host):\(configuration.port)", "mqtt.sessionPresent": "\(sessionPresent)",
        ])
        if let birth = configuration.birth?() {
            do {
                let messageID = try enqueuePublish(
                    birth.topic, payload: birth.payload, qos: .atLeastOnce, retain: birth.retain, properties: .init(), slot: .takeBeyondLimit
                )
                var resumptions = Resumptions()
                publishAcknowledgements.withLock { $0.ignore(messageIDs: [messageID], &resumptions) }
                resumptions.run()
            } catch {
                logger.error("MQTT birth message not published", metadata: ["mqtt.topic": "\(birth.topic)", "error": "\(error)"])
            }
        }
        for waiter in waiters { waiter.resume() }
    }

    /// libmosquitto passes a `MOSQ_ERR_*` when the connection ended here (lost, keep-alive, protocol error) and the
    /// reason code of the broker's DISCONNECT when the broker ended it; both went through `mosquitto_reason_string`,
    /// so every loss was logged as "Unknown reason" (issue 10, item 14).
    private func didDisconnect(code: Int32) {
        if code == MQTTDisconnectReason.sessionTakenOver {
            logger.error("MQTT session taken over: another client connected with client id \(configuration.clientID); backing off", metadata: [
                "mqtt.broker": "\(configuration.host):\(configuration.port)",
            ])
        }
        markDisconnected(reason: Self.describeDisconnect(code))
    }

    /// What ended a connection, from the code libmosquitto's disconnect callback (or a failed loop call) gives.
    package static func describeDisconnect(_ code: Int32) -> String {
        if code >= 0x80 {
            return "the broker disconnected us: \(String(cString: mosquitto_reason_string(code))) (0x\(String(code, radix: 16)))"
        }
        // libmosquitto 2.0.11's mosquitto_strerror says "Unknown error." for these.
        switch code {
        case MOSQ_ERR_KEEPALIVE.rawValue: return "no answer from the broker within the keep-alive"
        case MOSQ_ERR_LOOKUP.rawValue: return "the broker's host name could not be resolved"
        case MOSQ_ERR_MALFORMED_PACKET.rawValue: return "the broker sent a malformed packet"
        default: return String(cString: mosquitto_strerror(code))
        }
    }

    private func didUnsubscribe(messageID: Int32) {
        var resumptions = Resumptions()
        state.withLock { $0.pings.resume(messageID: messageID, with: .success(()), &resumptions) }
        resumptions.run()
    }

    private func didPublish(messageID: Int32, reasonCode: Int32) {
        var resumptions = Resumptions()
        let failedRequest = publishAcknowledgements.withLock {
            $0.acknowledged(messageID: messageID, reasonCode: reasonCode, &resumptions)
        }
        resumptions.run()
        if let failedRequest {
            failRequest(failedRequest.correlation, with: failedRequest.error)
        }
    }

    private func didSubscribe(messageID: Int32, reasonCode: Int32) {
        var resumptions = Resumptions()
        let refusedFilters = state.withLock { state -> [String] in
            state.subscribes.resume(messageID: messageID, with: .success(reasonCode), &resumptions)
            guard let tokens = state.resubscriptions.removeValue(forKey: messageID) else { return [] }
            var refused: [String] = []
            for token in tokens {
                if reasonCode < 0x80 { state.routes[token]?.granted = true } else if let filter = state.routes[token]?.filter { refused.append(filter) }
            }
            return refused
        }
        resumptions.run()
        for filter in Set(refusedFilters) {
            logger.error("MQTT broker refused a resubscription", metadata: ["mqtt.filter": "\(filter)", "reasonCode": "\(reasonCode)"])
        }
    }

    private func didReceive(_ message: MQTTMessage) {
        var resumptions = Resumptions()
        var shed: [(filter: String, shedSoFar: Int)] = []
        state.withLock { state in
            if let responseTopic = configuration.responseTopic, message.topic == responseTopic {
                // A reply whose request already timed out finds no waiter and is dropped.
                if let correlation = message.correlationData, let waiter = state.requests.remove(correlation) {
                    resumptions.resume(waiter, with: .success(message))
                }
                return
            }
            state.topicTree.forEachMatch(of: message.topic) { token in
                guard let route = state.routes[token], let source = route.source, let buffer = route.buffer else { return }
                let admission = buffer.admit()
                if admission.admitted {
                    resumptions.yield(message, to: source)
                } else {
                    shed.append((route.filter, admission.shedSoFar))
                }
            }
        }
        resumptions.run()
        for (filter, shedSoFar) in shed {
            metrics.messagesShed.increment()
            // The first and then every thousandth: a consumer that is stuck must not flood the log.
            if shedSoFar == 1 || shedSoFar.isMultiple(of: 1_000) {
                logger.warning("MQTT subscription buffer full, messages shed", metadata: [
                    "mqtt.filter": "\(filter)", "mqtt.shed": "\(shedSoFar)", "mqtt.topic": "\(message.topic)",
                ])
            }
        }
    }

    /// MQTT topic matching by libmosquitto (`mosquitto_topic_matches_sub`), with a shared subscription's
    /// `$share/<group>/` prefix taken off the filter first. Incoming messages are routed by ``TopicTree`` instead,
    /// which its tests check against this.
    public static func topic(_ topic: String, matches filter: String) -> Bool {
        guard let filter = TopicTree.matchedFilter(filter) else { return false }
        var result = false
        return mosquitto_topic_matches_sub(String(filter), topic, &result) == MOSQ_ERR_SUCCESS.rawValue && result
    }
}

extension MQTTMessage {
    init(copying message: mosquitto_message, properties: OpaquePointer?) {
        let payload = message.payload.map { Data(bytes: $0, count: Int(message.payloadlen)) } ?? Data()
        self.init(
            topic: message.topic.map { String(cString: $0) } ?? "",
            payload: payload,
            qos: MQTTQoS(rawValue: message.qos) ?? .atMostOnce,
            retain: message.retain,
            responseTopic: MosquittoPropertyReader.string(properties, MQTT_PROP_RESPONSE_TOPIC),
            correlationData: MosquittoPropertyReader.binary(properties, MQTT_PROP_CORRELATION_DATA),
            messageExpiry: MosquittoPropertyReader.int32(properties, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL),
            deadline: MosquittoPropertyReader.userProperty(properties, named: DeadlineProperty.name).flatMap(DeadlineProperty.decode)
        )
    }
}

/// MQTT v5 reason codes of a DISCONNECT from the broker that the client acts on.
enum MQTTDisconnectReason {
    /// Another client connected with the same client id (Mosquitto sends it from 2.0.15 on; 2.0.11 just closes).
    static let sessionTakenOver: Int32 = 0x8E
}
