import CMosquitto
import Foundation

/// An owned libmosquitto property list, built for one outgoing packet and freed after it was handed over
/// (libmosquitto copies the properties into the packet it queues).
struct MosquittoPropertyList: ~Copyable {
    private(set) var pointer: OpaquePointer?

    init() {}

    deinit {
        var list = pointer
        mosquitto_property_free_all(&list)
    }

    mutating func add(int32 identifier: Int32, _ value: UInt32) {
        mosquitto_property_add_int32(&pointer, identifier, value)
    }

    mutating func add(string identifier: Int32, _ value: String) {
        mosquitto_property_add_string(&pointer, identifier, value)
    }

    mutating func add(userProperty name: String, _ value: String) {
        mosquitto_property_add_string_pair(&pointer, Int32(MQTT_PROP_USER_PROPERTY.rawValue), name, value)
    }

    mutating func add(binary identifier: Int32, _ value: Data) {
        value.withUnsafeBytes { bytes in
            _ = mosquitto_property_add_binary(&pointer, identifier, bytes.baseAddress, UInt16(clamping: bytes.count))
        }
    }

    init(publish properties: MQTTPublishProperties) {
        if let expiry = properties.messageExpiry {
            // An expiry of 0 s would mean "never expires" on the wire; a command that is already due expires at once.
            // Rounded up: a request of 1.5 s must not expire in the broker after 1 s.
            add(int32: Int32(MQTT_PROP_MESSAGE_EXPIRY_INTERVAL.rawValue), max(1, expiry.wholeSecondsRoundedUp))
        }
        if let responseTopic = properties.responseTopic {
            add(string: Int32(MQTT_PROP_RESPONSE_TOPIC.rawValue), responseTopic)
        }
        if let correlationData = properties.correlationData {
            add(binary: Int32(MQTT_PROP_CORRELATION_DATA.rawValue), correlationData)
        }
        if let deadline = properties.deadline {
            add(userProperty: DeadlineProperty.name, DeadlineProperty.encode(deadline))
        }
    }
}

/// Reading the properties libmosquitto hands to a callback; every value is copied, since the list is freed after.
enum MosquittoPropertyReader {
    static func string(_ list: OpaquePointer?, _ identifier: mqtt5_property) -> String? {
        var value: UnsafeMutablePointer<CChar>?
        guard mosquitto_property_read_string(list, Int32(identifier.rawValue), &value, false) != nil, let value else {
            return nil
        }
        defer { free(value) }
        return String(cString: value)
    }

    static func binary(_ list: OpaquePointer?, _ identifier: mqtt5_property) -> Data? {
        var value: UnsafeMutableRawPointer?
        var length: UInt16 = 0
        guard mosquitto_property_read_binary(list, Int32(identifier.rawValue), &value, &length, false) != nil else {
            return nil
        }
        defer { free(value) }
        guard let value else { return Data() }
        return Data(bytes: value, count: Int(length))
    }

    /// The value of the first user property called `name`.
    static func userProperty(_ list: OpaquePointer?, named name: String) -> String? {
        var property = list
        var skipFirst = false
        while true {
            var key: UnsafeMutablePointer<CChar>?
            var value: UnsafeMutablePointer<CChar>?
            property = mosquitto_property_read_string_pair(property, Int32(MQTT_PROP_USER_PROPERTY.rawValue), &key, &value, skipFirst)
            guard property != nil else { return nil }
            defer {
                free(key)
                free(value)
            }
            if let key, let value, String(cString: key) == name { return String(cString: value) }
            skipFirst = true
        }
    }

    static func int32(_ list: OpaquePointer?, _ identifier: mqtt5_property) -> UInt32? {
        var value: UInt32 = 0
        guard mosquitto_property_read_int32(list, Int32(identifier.rawValue), &value, false) != nil else { return nil }
        return value
    }
}
