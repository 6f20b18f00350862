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

    public init(
        topic: String,
        payload: Data,
        qos: MQTTQoS = .atLeastOnce,
        retain: Bool = false,
        responseTopic: String? = nil,
        correlationData: Data? = nil,
        messageExpiry: UInt32? = nil
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.responseTopic = responseTopic
        self.correlationData = correlationData
        self.messageExpiry = messageExpiry
    }
}

/// The MQTT v5 properties a publish can carry.
public struct MQTTPublishProperties: Sendable {
    /// The broker drops the message if it cannot deliver it within this time; the forwarded copy carries what is left.
    public var messageExpiry: Duration?
    public var responseTopic: String?
    public var correlationData: Data?

    public init(messageExpiry: Duration? = nil, responseTopic: String? = nil, correlationData: Data? = nil) {
        self.messageExpiry = messageExpiry
        self.responseTopic = responseTopic
        self.correlationData = correlationData
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
