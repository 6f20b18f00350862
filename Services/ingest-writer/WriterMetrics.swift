import Metrics

/// What the writer counts, for `/metrics` (the Prometheus names are listed in docs/ingest.md).
struct WriterMetrics: Sendable {
    private let eventsStored = Counter(label: "leitstand_ingest_events_stored_total")
    private let bytesWritten = Counter(label: "leitstand_ingest_bytes_written_total")
    private let duplicates = Counter(label: "leitstand_ingest_duplicates_total")
    private let tornLinesRepaired = Counter(label: "leitstand_ingest_torn_lines_repaired_total")
    /// Syncs of lines another writer (or a killed one) appended, before their ids are trusted.
    private let catchUpSyncs = Counter(label: "leitstand_ingest_catch_up_syncs_total")
    /// Events per fsync: group commit at work.
    private let groupEvents = Recorder(label: "leitstand_ingest_group_events")
    private let fsyncDuration = Timer(label: "leitstand_ingest_fsync_seconds", preferredDisplayUnit: .seconds)
    private let pendingEvents = Gauge(label: "leitstand_ingest_pending_events")

    /// One group commit: what was written and synced, and what was found already written.
    func groupWritten(events: Int, bytes: Int, duplicates: Int, sync: Duration) {
        eventsStored.increment(by: events)
        bytesWritten.increment(by: bytes)
        if duplicates > 0 { self.duplicates.increment(by: duplicates) }
        if events > 0 {
            groupEvents.record(events)
            fsyncDuration.recordNanoseconds(Int64(sync / .nanoseconds(1)))
        }
    }

    func tornLineRepaired() { tornLinesRepaired.increment() }

    func catchUpSynced() { catchUpSyncs.increment() }

    func pending(_ events: Int) { pendingEvents.record(events) }

    /// Events refused, by reason: `writer_busy`, `invalid_batch`, `invalid_domain`, `write_failed`.
    func rejected(_ reason: String, events: Int = 1) {
        Counter(label: "leitstand_ingest_rejected_total", dimensions: [("reason", reason)]).increment(by: events)
    }
}
