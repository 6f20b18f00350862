import Foundation

/// Quality of service of a publish or subscription.
public enum MQTTQoS: Int32, Sendable, Comparable {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A message as received, copied out of libmosquitto's buffers.
public struct MQTTMessage: Sendable {
    public var topic: String
    public var payload: Data
    public var qos: MQTTQoS
    /// True when the broker sent it from its retained store (at subscribe time), not live.
    public var retain: Bool
    public var responseTopic: String?
    public var correlationData: Data?
    /// Seconds the message has left, as forwarded by the broker; nil when it never expires.
    public var messageExpiry: UInt32?
    /// When the sender stops waiting for an answer: the user property `deadline` (see
    /// ``MQTTPublishProperties/deadline``); nil when it is absent or malformed.
    public var deadline: Date?

    public init(
        topic: String,
        payload: Data,
        qos: MQTTQoS = .atLeastOnce,
        retain: Bool = false,
        responseTopic: String? = nil,
        correlationData: Data? = nil,
        messageExpiry: UInt32? = nil,
        deadline: Date? = nil
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.responseTopic = responseTopic
        self.correlationData = correlationData
        self.messageExpiry = messageExpiry
        self.deadline = deadline
    }
}

/// The MQTT v5 properties a publish can carry.
public struct MQTTPublishProperties: Sendable {
    /// The broker drops the message if it cannot deliver it within this time (whole seconds, rounded up); the
    /// forwarded copy carries what is left. It counts from the broker's receipt, so it cannot tell a responder that
    /// the asker has given up: a request that waited in the sender's queue or in a paused responder still arrives.
    public var messageExpiry: Duration?
    public var responseTopic: String?
    public var correlationData: Data?
    /// When the sender stops waiting for an answer, sent as the user property `deadline` with the Unix time in
    /// milliseconds as decimal digits. A responder acts only before it (``MQTTClient/serveRequests(on:qos:maximumConcurrency:maximumPayloadBytes:handler:)``).
    /// Wall-clock time on purpose, since it crosses processes and hosts: their clocks must agree (NTP) to well
    /// within the requests' margins.
    public var deadline: Date?

    public init(messageExpiry: Duration? = nil, responseTopic: String? = nil, correlationData: Data? = nil, deadline: Date? = nil) {
        self.messageExpiry = messageExpiry
        self.responseTopic = responseTopic
        self.correlationData = correlationData
        self.deadline = deadline
    }
}

/// The user property that carries a deadline.
enum DeadlineProperty {
    static let name = "deadline"

    static func encode(_ deadline: Date) -> String {
        String(Int64((deadline.timeIntervalSince1970 * 1_000).rounded(.down)))
    }

    /// Decimal digits only (no sign, no spaces), at most 15 of them (beyond the year 30 000, and beyond what a Double
    /// holds exactly); anything else is malformed.
    static func decode(_ value: String) -> Date? {
        guard (1...15).contains(value.utf8.count), value.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let milliseconds = Int64(value) else {
            return nil
        }
        return Date(timeIntervalSince1970: Double(milliseconds) / 1_000)
    }
}

/// MQTT v5 subscription options.
public struct MQTTSubscriptionOptions: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// Do not receive our own publishes on this subscription.
    public static let noLocal = Self(rawValue: 0x04)
    /// Keep the retain flag as published rather than clearing it.
    public static let retainAsPublished = Self(rawValue: 0x08)
    /// Never deliver retained messages at subscribe time: commands must not replay from the retained store.
    public static let neverSendRetained = Self(rawValue: 0x20)
}

/// A message to publish in a batch (see ``MQTTClient/publish(batch:qos:)``).
public struct MQTTOutgoingMessage: Sendable {
    public var topic: String
    public var payload: Data
    public var retain: Bool
    public var properties: MQTTPublishProperties

    public init(topic: String, payload: Data, retain: Bool = false, properties: MQTTPublishProperties = .init()) {
        self.topic = topic
        self.payload = payload
        self.retain = retain
        self.properties = properties
    }
}
