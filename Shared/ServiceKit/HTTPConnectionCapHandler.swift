import NIOCore
import NIOHTTPTypes

/// Enters its connection into the service's ``HTTPConnectionTable`` when it opens, closes it at once when the table
/// refuses it, and tells the table when a request starts and its response ends (which connections are idle).
///
/// A handler per connection in Hummingbird's HTTP/1 pipeline (after the codec, so it sees request heads and
/// response ends): Hummingbird's own `availableConnectionsDelegate` only stops accepting at a maximum, which leaves
/// new connections, `/health` among them, waiting in the listen backlog for as long as the idle ones stay, and
/// neither counts nor logs them.
final class HTTPConnectionCapHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let table: HTTPConnectionTable
    private var isEntered = false

    init(table: HTTPConnectionTable) {
        self.table = table
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { enter(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        enter(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { table.requestStarted(on: context.channel) }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { table.responseFinished(on: context.channel) }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        table.closed(context.channel)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        table.closed(context.channel)
    }

    private func enter(context: ChannelHandlerContext) {
        guard !isEntered else { return }
        isEntered = true
        if table.open(context.channel) == .refused {
            // No answer: reading the request first would hold the descriptor this is about.
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension HTTPConnectionCapHandler: Sendable {}
