import ServiceKit

/// The ingest-writer's own configuration.
struct WriterSettings: Sendable {
    /// Where the day files go; must exist and be writable, else the writer refuses to start.
    var dataDirectory: String
    /// Events accepted but not yet on disk; past this the writer answers `writer_busy` at once.
    var maximumPendingEvents: Int

    static func read(_ reader: inout ConfigurationReader) -> WriterSettings {
        WriterSettings(
            dataDirectory: reader.writableDirectory("LEITSTAND_DATA_DIR") ?? "",
            maximumPendingEvents: reader.integer("LEITSTAND_INGEST_MAX_PENDING_EVENTS", default: 200_000, range: 1...10_000_000)
        )
    }
}
