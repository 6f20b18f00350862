import HummingbirdCore
import Logging
import NIOCore

/// How long every service's HTTP server waits for a client. Without limits a connection that sends nothing, or
/// announces a body it never sends, stays open for ever (issue 9: idle keep-alive sockets still open after 65 s,
/// a short body held indefinitely), and enough of them exhaust the process's file descriptors.
public struct HTTPServerTimeouts: Sendable, Equatable {
    /// A connection with no request in progress (between keep-alive requests), or whose request head has not
    /// arrived completely, or whose body has stalled, is closed after this long (`LEITSTAND_HTTP_IDLE_TIMEOUT_S`).
    public var idleSeconds: Int
    /// A request's body must have arrived completely this long after its head, else the connection is closed
    /// (`LEITSTAND_HTTP_READ_TIMEOUT_S`).
    public var readSeconds: Int

    /// Idle 30 s: long enough for a browser's or Prometheus's next request on the same connection, short enough
    /// that slow clients cannot pile up. A reverse proxy's keep-alive towards a service must be shorter than this.
    /// Read 60 s: the largest body (1 MiB of ingest) arrives in time even at 17 KB/s, a weak mobile link on a site.
    public static let defaults = HTTPServerTimeouts(idleSeconds: 30, readSeconds: 60)

    public init(idleSeconds: Int, readSeconds: Int) {
        self.idleSeconds = idleSeconds
        self.readSeconds = readSeconds
    }

    /// `LEITSTAND_HTTP_IDLE_TIMEOUT_S` and `LEITSTAND_HTTP_READ_TIMEOUT_S`, 1 s to 1 h each.
    public static func read(_ reader: inout ConfigurationReader) -> HTTPServerTimeouts {
        HTTPServerTimeouts(
            idleSeconds: reader.integer("LEITSTAND_HTTP_IDLE_TIMEOUT_S", default: defaults.idleSeconds, range: 1...3_600),
            readSeconds: reader.integer("LEITSTAND_HTTP_READ_TIMEOUT_S", default: defaults.readSeconds, range: 1...3_600)
        )
    }

    /// The HTTP/1 channel with both timeouts: Hummingbird's idle timeout, and a deadline for each request's body.
    func channelConfiguration(logger: Logger) -> HTTP1Channel.Configuration {
        let read = TimeAmount.seconds(Int64(readSeconds))
        return HTTP1Channel.Configuration(
            additionalChannelHandlers: [RequestReadTimeoutHandler(timeout: read, logger: logger)],
            idleTimeout: .seconds(Int64(idleSeconds))
        )
    }
}
