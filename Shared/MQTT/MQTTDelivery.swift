/// What the broker said about a QoS 1 or 2 publish it accepted.
public enum MQTTDelivery: Sendable, Equatable {
    /// The broker took the message (and, for QoS 0, it was handed to the socket: there is no acknowledgement).
    case delivered
    /// The broker took the message but had no subscriber for it (PUBACK reason 0x10): nobody will receive it. A
    /// persistent `$share` group whose members are all away counts as no subscriber in Mosquitto 2.0 (issue 10,
    /// item 13), so where a message must reach someone, this is the answer to act on.
    case noMatchingSubscribers
}
