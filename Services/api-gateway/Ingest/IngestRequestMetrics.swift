import Metrics

/// The gateway's side of ingest in `/metrics`.
struct IngestRequestMetrics: Sendable {
    private let eventsStored = Counter(label: "leitstand_gateway_ingest_events_stored_total")
    /// Events per acknowledged request: 1 for single events, the array's length for batches.
    private let requestEvents = Recorder(label: "leitstand_gateway_ingest_request_events")

    func stored(events: Int) {
        eventsStored.increment(by: events)
        requestEvents.record(events)
    }

    /// Requests refused, by their error code.
    func rejected(_ code: String) {
        Counter(label: "leitstand_gateway_ingest_rejected_total", dimensions: [("reason", code)]).increment()
    }
}
