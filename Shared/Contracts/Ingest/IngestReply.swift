/// The ingest-writer's answer to an ``IngestBatch``: either every event is on disk (fsync'd), written now or found
/// already written, or nothing was written and `error` says why.
public struct IngestReply: Codable, Sendable, Equatable {
    /// Events of the batch that are on disk.
    public var stored: Int?
    /// Of those, how many were already there (same id within the dedupe window) and not written again.
    public var duplicates: Int?
    /// A stable code: `writer_busy` (come back after `retryAfterSeconds`), `invalid_batch`, `write_failed`.
    public var error: String?
    public var message: String?
    public var retryAfterSeconds: Int?

    public static func stored(_ count: Int, duplicates: Int) -> IngestReply {
        IngestReply(stored: count, duplicates: duplicates)
    }

    public static func refused(_ error: String, message: String, retryAfterSeconds: Int? = nil) -> IngestReply {
        IngestReply(error: error, message: message, retryAfterSeconds: retryAfterSeconds)
    }
}

/// The gateway's 200 body for an ingest request: `{"status":"stored","count":n}`.
public struct IngestStored: Codable, Sendable, Equatable {
    public var status = "stored"
    public var count: Int

    public init(count: Int) { self.count = count }
}
