import Foundation

/// Everything needed to reach the broker, usually read from `LEITSTAND_MQTT_URL`.
public struct MQTTConfiguration: Sendable {
    /// Whether the broker keeps the session (subscriptions and queued QoS 1 messages) across disconnects.
    public enum Session: Sendable, Equatable {
        /// Clean Start: a new session on every connect.
        case clean
        /// Clean Start = 0 with an explicit Session Expiry Interval. Without that property an MQTT v5 broker
        /// ends the session at disconnect, whatever Clean Start says. Either way the client sends its
        /// subscriptions again after each reconnect.
        case persistent(expiry: Duration)
    }

    /// A message this client announces about itself: the last will (the broker publishes it when we vanish
    /// without a DISCONNECT) or the birth message (published by us on every successful connect).
    public struct Announcement: Sendable {
        public var topic: String
        public var payload: Data
        public var retain: Bool
        public init(topic: String, payload: Data, retain: Bool = true) {
            self.topic = topic
            self.payload = payload
            self.retain = retain
        }
    }

    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    /// A CA file for `mqtts://`; nil means plain TCP.
    public var caFile: String?
    public var useTLS: Bool
    public var clientID: String
    public var session: Session
    public var will: Announcement?
    /// Published (QoS 1) on every successful (re)connect, so that a will the broker fired while we were away is
    /// replaced by the truth again. A closure because it usually carries the time.
    public var birth: (@Sendable () -> Announcement)?
    public var keepAlive: Duration
    /// First and longest wait between reconnect attempts; the wait doubles in between, with jitter.
    public var reconnectDelay: ClosedRange<Duration>
    /// A connection that lasted this long starts the reconnect backoff over; a shorter one (a takeover by another
    /// client with our id, a broker that accepts and drops us) keeps it growing.
    public var connectionStableAfter: Duration = .seconds(60)
    /// QoS 1/2 messages in flight at once in each direction (MQTT v5 Receive Maximum, and our send maximum, which
    /// the broker's Receive Maximum can lower). libmosquitto's default of 20 caps a busy client's pipeline.
    public var inflightWindow: Int = 1_000
    /// The largest packet the broker takes (its `max_packet_size`; deploy/mosquitto sets 2 MiB). Every publish is
    /// checked against it before it is queued: libmosquitto 2.0.11 checks only once it has the broker's CONNACK,
    /// and a too-large message queued while disconnected aborts the process on reconnect (`log__printf: Assertion
    /// 'mosq' failed`, issue 10 item 8).
    public var maximumPacketSize: Int = 2_097_152
    /// QoS 1/2 publishes (requests and replies included) that may await their PUBACK at once; beyond it a publish
    /// fails at once with ``MQTTError/tooManyPendingPublishes``. Message ids have 16 bits: past 65 535 pending
    /// publishes libmosquitto hands out ids still in use, so the limit stays well below that.
    public var maximumPendingPublishes: Int = 30_000
    /// Received messages one subscription may hold for its consumer before the client stops reading from the
    /// broker (until the consumer is down to half of it); a subscription can set its own (see
    /// ``MQTTClient/subscribe(_:qos:options:bufferLimit:)``). Past twice this, a message is shed.
    public var subscriptionBufferLimit: Int = 1_000
    /// Where this client's replies may go: an MQTT filter such as `leitstand/reply/+`, nil for anywhere. A request
    /// naming another response topic gets no reply (``MQTTClient/reply(to:payload:)`` throws
    /// ``MQTTError/responseTopicRefused(topic:)``): a responder replied to whatever a request named, e.g. a door's job
    /// topic (issue 9, item 4).
    public var replyTopicFilter: String?
    /// Where replies to this client's requests arrive (see ``MQTTClient/request(_:payload:timeout:)``).
    public var responseTopic: String?

    public init(
        host: String = "127.0.0.1",
        port: Int = 1883,
        username: String? = nil,
        password: String? = nil,
        useTLS: Bool = false,
        caFile: String? = nil,
        clientID: String,
        session: Session = .clean,
        will: Announcement? = nil,
        birth: (@Sendable () -> Announcement)? = nil,
        keepAlive: Duration = .seconds(30),
        reconnectDelay: ClosedRange<Duration> = .seconds(1) ... .seconds(30),
        responseTopic: String? = nil
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.useTLS = useTLS
        self.caFile = caFile
        self.clientID = clientID
        self.session = session
        self.will = will
        self.birth = birth
        self.keepAlive = keepAlive
        self.reconnectDelay = reconnectDelay
        self.responseTopic = responseTopic
    }

    /// Parses `mqtt://user:pass@host:1883` or `mqtts://…` (which needs `caFile`).
    public init(url: String, caFile: String? = nil, clientID: String) throws(MQTTError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw .invalidURL("expected mqtt://user:pass@host:port")
        }
        guard scheme == "mqtt" || scheme == "mqtts" else {
            throw .invalidURL("scheme must be mqtt or mqtts, not \(scheme)")
        }
        guard let host = components.host, !host.isEmpty else { throw .invalidURL("no host") }
        let useTLS = scheme == "mqtts"
        if useTLS && caFile == nil { throw .invalidURL("mqtts:// needs LEITSTAND_MQTT_CA (a CA file)") }
        if let port = components.port, !(1...65535).contains(port) { throw .invalidURL("port out of range") }
        if let path = components.path.nilIfEmpty, path != "/" { throw .invalidURL("no path expected") }
        self.init(
            host: host,
            port: components.port ?? (useTLS ? 8883 : 1883),
            username: components.percentEncodedUser?.removingPercentEncoding,
            password: components.percentEncodedPassword?.removingPercentEncoding,
            useTLS: useTLS,
            caFile: caFile,
            clientID: clientID
        )
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}

extension Duration {
    /// Whole seconds, rounded down, clamped to what a 32-bit MQTT property can hold.
    var wholeSeconds: UInt32 {
        let seconds = components.seconds
        return seconds <= 0 ? 0 : UInt32(min(seconds, Int64(UInt32.max)))
    }

    /// Whole seconds, rounded up, clamped like ``wholeSeconds``.
    var wholeSecondsRoundedUp: UInt32 {
        let seconds = components.seconds + (components.attoseconds > 0 ? 1 : 0)
        return seconds <= 0 ? 0 : UInt32(min(seconds, Int64(UInt32.max)))
    }

    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }

    var timeInterval: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
