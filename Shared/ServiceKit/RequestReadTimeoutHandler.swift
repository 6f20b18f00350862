import Logging
import Metrics
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request body has not arrived completely within `timeout` of its head.
///
/// Hummingbird's idle timeout restarts with every part it reads, so a client that sends one byte of a body every
/// few seconds holds the connection (and the handler waiting for the body) for as long as it likes; a body that
/// stops altogether is closed by the idle timeout, a trickling one only by this deadline. The request head needs
/// no deadline here: until it is complete no part arrives, and the idle timeout closes the connection.
final class RequestReadTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let timeout: TimeAmount
    private let logger: Logger
    private var deadline: Scheduled<Void>?
    /// Counted so that an operator sees slow or stalled clients: `leitstand_http_read_timeouts_total`.
    private static let timeouts = Counter(label: "leitstand_http_read_timeouts_total")

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            startDeadline(context: context)
        case .body:
            break
        case .end:
            cancelDeadline()
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelDeadline()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelDeadline()
    }

    private func startDeadline(context: ChannelHandlerContext) {
        cancelDeadline()
        let channel = context.channel
        let logger = logger
        let timeout = timeout
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            // No 408: the request is already with its handler, which may be writing a response of its own.
            logger.debug("closing a connection whose request body did not arrive in time", metadata: [
                "remote": "\(channel.remoteAddress?.description ?? "unknown")", "readTimeout": "\(timeout.nanoseconds / 1_000_000) ms",
            ])
            Self.timeouts.increment()
            channel.close(promise: nil)
        }
    }

    private func cancelDeadline() {
        deadline?.cancel()
        deadline = nil
    }
}

@available(*, unavailable)
extension RequestReadTimeoutHandler: Sendable {}
