#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How many HTTP connections a service holds open at once (`LEITSTAND_HTTP_MAX_CONNECTIONS`).
///
/// Without a cap every accepted connection costs a file descriptor until a timeout closes it: 1 100 idle
/// connections against the gateway at systemd's default file limit (1 024) made `/health` and logins time out
/// with nothing logged, and libdispatch then trapped (SIGILL in `_dispatch_workq_monitor_pools`) when it could not
/// open `/proc/…/stat`. The cap keeps the connections well under the file limit, so that the broker link, the
/// database pool, the ingest files and the runtime always find a descriptor.
public struct HTTPConnectionLimit: Sendable, Equatable {
    /// The connections the server holds open at most: ``configured``, lowered to half the file limit.
    public var maximum: Int
    /// What `LEITSTAND_HTTP_MAX_CONNECTIONS` asked for (or the default).
    public var configured: Int
    /// The process's file limit (soft `RLIMIT_NOFILE`) at start; nil when unlimited or unknown.
    public var fileLimit: Int?

    /// 1 024: far more than a building site's clients and monitors use at once, and a sixty-fourth of the
    /// `LimitNOFILE=65536` the units and compose give every service.
    public static let defaultMaximum = 1_024

    public init(configured: Int, fileLimit: Int?) {
        self.configured = configured
        self.fileLimit = fileLimit
        // Half the descriptors stay for everything else: a cap the file limit cannot hold protects nothing (the
        // process still runs out), so a service started under `ulimit -n 1024` holds at most 512 connections.
        maximum = fileLimit.map { max(1, min(configured, $0 / 2)) } ?? configured
    }

    /// `LEITSTAND_HTTP_MAX_CONNECTIONS`, 1 to 1 048 576 (default ``defaultMaximum``), against `fileLimit` (the
    /// process's own unless a test gives one).
    public static func read(_ reader: inout ConfigurationReader, fileLimit: Int? = currentFileLimit()) -> HTTPConnectionLimit {
        let configured = reader.integer("LEITSTAND_HTTP_MAX_CONNECTIONS", default: defaultMaximum, range: 1...1_048_576)
        return HTTPConnectionLimit(configured: configured, fileLimit: fileLimit)
    }

    /// The soft limit on open files (what `open` and `accept` run into), nil when unlimited or unknown.
    public static func currentFileLimit() -> Int? {
        var limit = rlimit()
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return Int(clamping: limit.rlim_cur)
    }
}
