import Metrics

/// The gateway's side of ingest in `/metrics`.
struct IngestRequestMetrics: Sendable {
    private let eventsStored = Counter(label: "leitstand_gateway_ingest_events_stored_total")

    func stored(events: Int) { eventsStored.increment(by: events) }

    /// Requests refused, by their error code.
    func rejected(_ code: String) {
        Counter(label: "leitstand_gateway_ingest_rejected_total", dimensions: [("reason", code)]).increment()
    }
}
