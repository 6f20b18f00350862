import Logging
import Metrics
import NIOCore
import Synchronization

/// The HTTP connections a service holds open, at most ``HTTPConnectionLimit/maximum`` of them, shared by the
/// connections of every event loop.
///
/// At the cap a new connection takes the place of the one that has been idle longest (no request in progress:
/// it has not sent a complete request head yet, or is waiting between keep-alive requests), which is closed. Only
/// when every connection has a request in progress is the new one closed at once. So an attacker who holds the
/// cap with idle connections keeps none of them against `/health` and real requests (refusing every connection
/// past the cap would have let those idle ones lock everybody out until the idle timeout), and one who keeps
/// requests in progress is bounded by the read timeout.
final class HTTPConnectionTable: Sendable {
    /// What became of a new connection.
    enum Admission: Equatable {
        case admitted
        /// Admitted in place of the longest idle connection, which is to be closed.
        case admittedClosingIdle
        /// Every connection has a request in progress: the new one is to be closed.
        case refused
    }

    private struct Connection {
        let channel: any Channel
        /// Request heads read whose response has not been written completely (more than one when pipelined).
        var requestsInProgress = 0
        /// When it last had no request in progress: opened, or its last response written.
        var idleSince: NIODeadline
    }

    private struct State {
        var connections: [ObjectIdentifier: Connection] = [:]
        /// Since the last warning: connections closed to make room, and new ones refused.
        var closedIdle = 0
        var refused = 0
        var lastWarning: NIODeadline?
    }

    let maximum: Int
    private let state = Mutex(State())
    private let logger: Logger
    /// One warning at most this often, with the counts since the one before: a flood of connections must not
    /// become a flood of log lines (the counters below count every one).
    private let warningInterval: TimeAmount
    private let refusedCounter = Counter(label: "leitstand_http_connections_refused_total")
    private let closedIdleCounter = Counter(label: "leitstand_http_connections_closed_idle_total")
    private let openGauge = Gauge(label: "leitstand_http_connections")

    init(maximum: Int, logger: Logger, warningInterval: TimeAmount = .seconds(10)) {
        self.maximum = maximum
        self.logger = logger
        self.warningInterval = warningInterval
        // Created now, so that /metrics shows the cap and zeros before the first connection.
        Gauge(label: "leitstand_http_connections_max").record(maximum)
        openGauge.record(0)
    }

    /// Adds a connection that has just been accepted, closing the longest idle one to make room at the cap, or
    /// refusing the new one when none is idle. The caller closes a refused connection.
    func open(_ channel: any Channel) -> Admission {
        let now = NIODeadline.now()
        let (admission, closing, count, warning) = state.withLock { state -> (Admission, (any Channel)?, Int, (closedIdle: Int, refused: Int)?) in
            var closing: (any Channel)?
            let admission: Admission
            if state.connections.count < maximum {
                admission = .admitted
            } else if let idle = Self.longestIdle(in: state.connections) {
                // Out of the table at once, so that a connection opened meanwhile on another event loop picks another.
                closing = state.connections.removeValue(forKey: idle)?.channel
                state.closedIdle += 1
                admission = .admittedClosingIdle
            } else {
                state.refused += 1
                admission = .refused
            }
            if admission != .refused {
                state.connections[ObjectIdentifier(channel)] = Connection(channel: channel, idleSince: now)
            }
            var warning: (closedIdle: Int, refused: Int)?
            if admission != .admitted, state.lastWarning.map({ now - $0 >= warningInterval }) ?? true {
                warning = (state.closedIdle, state.refused)
                state.closedIdle = 0
                state.refused = 0
                state.lastWarning = now
            }
            return (admission, closing, state.connections.count, warning)
        }
        switch admission {
        case .admitted: break
        case .admittedClosingIdle: closedIdleCounter.increment()
        case .refused: refusedCounter.increment()
        }
        closing?.close(promise: nil)
        openGauge.record(count)
        if let warning {
            logger.warning("HTTP connections at the cap: idle ones closed to make room, new ones refused while every connection has a request in progress", metadata: [
                "maxConnections": "\(maximum)", "closedIdle": "\(warning.closedIdle)", "refused": "\(warning.refused)",
                "remote": "\(channel.remoteAddress?.description ?? "unknown")",
            ])
        }
        return admission
    }

    /// The connection idle longest: a scan, at most ``maximum`` entries and only at the cap (1 024 take a few
    /// microseconds), without the bookkeeping an ordered index would need on every request.
    private static func longestIdle(in connections: [ObjectIdentifier: Connection]) -> ObjectIdentifier? {
        var oldest: (id: ObjectIdentifier, since: NIODeadline)?
        for (id, connection) in connections where connection.requestsInProgress == 0 && connection.idleSince < oldest?.since ?? .distantFuture {
            oldest = (id, connection.idleSince)
        }
        return oldest?.id
    }

    /// A request head arrived on `channel`: it is no longer idle.
    func requestStarted(on channel: any Channel) {
        state.withLock { $0.connections[ObjectIdentifier(channel)]?.requestsInProgress += 1 }
    }

    /// A response on `channel` was written completely: idle from now when it was the last one in progress.
    func responseFinished(on channel: any Channel) {
        let now = NIODeadline.now()
        state.withLock { state in
            guard var connection = state.connections[ObjectIdentifier(channel)] else { return }
            // A response without a request (one written before the head was complete, as a 400) leaves it at 0.
            connection.requestsInProgress = max(0, connection.requestsInProgress - 1)
            if connection.requestsInProgress == 0 { connection.idleSince = now }
            state.connections[ObjectIdentifier(channel)] = connection
        }
    }

    /// `channel` closed (on its own, or closed here to make room).
    func closed(_ channel: any Channel) {
        let count = state.withLock { state in
            state.connections.removeValue(forKey: ObjectIdentifier(channel))
            return state.connections.count
        }
        openGauge.record(count)
    }
}
