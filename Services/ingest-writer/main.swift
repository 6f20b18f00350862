import NIOPosix
import ServiceKit

/// Appends ingested events to `{LEITSTAND_DATA_DIR}/{domain}/{YYYY-MM-DD}.jsonl` and acknowledges them only once
/// they are fsync'd. Needs no database: the files are the truth, the dedupe index is rebuilt from them.
let (runtime, settings) = ServiceRuntime.bootstrap(
    ServiceIdentity(name: "ingest-writer"),
    usesDatabase: false,
    defaultHTTPPort: 8082,
    settings: WriterSettings.read
)
// fsync blocks its thread for milliseconds: writes run here, one thread per domain being written at a time.
let ioThreads = NIOThreadPool(numberOfThreads: 8)
ioThreads.start()
let metrics = WriterMetrics()
let journal = IngestJournal(
    dataDirectory: settings.dataDirectory,
    maximumPendingEvents: settings.maximumPendingEvents,
    pool: ioThreads,
    metrics: metrics,
    logger: runtime.logger
)
let router = runtime.makeRouter(extraChecks: [HealthCheck(name: "dataDirectory") { journal.isOpen }])
await runtime.run(
    router: router,
    services: [IngestConsumer(mqtt: runtime.mqtt, journal: journal, metrics: metrics, logger: runtime.logger)]
)
