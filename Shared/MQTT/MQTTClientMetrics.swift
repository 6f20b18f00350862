import Metrics

/// The client's metrics, made once per client (a metrics handler is looked up when it is made, not when it counts).
struct MQTTClientMetrics: Sendable {
    /// Why a responder dropped a request without calling its handler (the `reason` dimension).
    enum RequestDrop: String, CaseIterable, Sendable {
        case late
        case noDeadline = "no_deadline"
        case tooLarge = "too_large"
        case badResponseTopic = "bad_response_topic"
    }

    /// Times the network thread stopped reading because a subscription's buffer was full.
    let readPauses: Counter
    /// Messages dropped because a subscription's buffer held twice its limit.
    let messagesShed: Counter
    /// Messages received and not yet taken by their consumers, over all subscriptions.
    let messagesBuffered: Gauge
    let requestsDropped: [RequestDrop: Counter]

    init(factory: any MetricsFactory) {
        readPauses = Counter(label: "leitstand_mqtt_read_pauses_total", factory: factory)
        messagesShed = Counter(label: "leitstand_mqtt_messages_shed_total", factory: factory)
        messagesBuffered = Gauge(label: "leitstand_mqtt_messages_buffered", factory: factory)
        requestsDropped = Dictionary(uniqueKeysWithValues: RequestDrop.allCases.map {
            ($0, Counter(label: "leitstand_mqtt_requests_dropped_total", dimensions: [("reason", $0.rawValue)], factory: factory))
        })
    }
}
