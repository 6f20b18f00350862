/// Sizes of MQTT v5 packets as they go on the wire (fixed header included, as the Maximum Packet Size counts them),
/// so that a message the broker would refuse is refused here before libmosquitto queues it.
enum PacketSize {
    static func publish(topic: String, payloadBytes: Int, qos: MQTTQoS, properties: MQTTPublishProperties) -> Int {
        var propertyBytes = 0
        if properties.messageExpiry != nil { propertyBytes += 1 + 4 }
        if let responseTopic = properties.responseTopic { propertyBytes += 1 + 2 + responseTopic.utf8.count }
        if let correlationData = properties.correlationData { propertyBytes += 1 + 2 + correlationData.count }
        if let deadline = properties.deadline {
            propertyBytes += 1 + 2 + DeadlineProperty.name.utf8.count + 2 + DeadlineProperty.encode(deadline).utf8.count
        }
        let remaining = 2 + topic.utf8.count + (qos == .atMostOnce ? 0 : 2)
            + variableByteIntegerLength(propertyBytes) + propertyBytes + payloadBytes
        return 1 + variableByteIntegerLength(remaining) + remaining
    }

    /// A CONNECT carrying `will`: its header and properties are small (under 64 bytes), the rest is strings.
    static func connect(with will: MQTTConfiguration.Announcement, configuration: MQTTConfiguration) -> Int {
        let strings = [configuration.clientID, will.topic, configuration.username ?? "", configuration.password ?? ""]
        return 64 + strings.reduce(0) { $0 + 2 + $1.utf8.count } + 2 + will.payload.count
    }

    private static func variableByteIntegerLength(_ value: Int) -> Int {
        switch value {
        case ..<128: 1
        case ..<16_384: 2
        case ..<2_097_152: 3
        default: 4
        }
    }
}
