import Contracts
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request that NIO's HTTP parser refuses before any route sees it (a malformed request line, a head
/// larger than the decoder's limit, `Content-Length` together with `Transfer-Encoding`) with 400 `bad_request` as
/// JSON, as docs/api.md promises for every error, and closes the connection.
///
/// Hummingbird answers these itself with an empty 400 (`HTTPChannelHandler.handleHTTP` writes it when the request
/// stream throws `HTTPParserError`) and has no hook for its body; this handler sits between the codec and
/// Hummingbird and takes the error before it reaches the request stream. An error inside a request's body (broken
/// chunked framing) still goes to the route that reads the body, which answers it (ingest: `invalid_body`):
/// swallowing it there would hand the route a body that just ends.
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let logger: Logger
    /// A request head has been read and its end has not.
    private var isReadingRequest = false
    /// Request heads read whose response has not been written completely.
    private var responsesOwed = 0
    /// The parser refused the input: nothing more is passed on, and the 400 goes out once no response is owed.
    private var isRefusing = false
    private var isAnswered = false
    /// The answer's message: what the parser found (`headerOverflow`, `invalidVersion`, …), never the input.
    private var refusal = ""

    init(logger: Logger) {
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isRefusing else { return }
        switch unwrapInboundIn(data) {
        case .head:
            isReadingRequest = true
            responsesOwed += 1
        case .body:
            break
        case .end:
            isReadingRequest = false
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if isRefusing { return }  // The decoder refuses everything after its first error; one answer is enough.
        guard error is HTTPParserError, !isReadingRequest else {
            context.fireErrorCaught(error)
            return
        }
        logger.debug("refusing a request the HTTP parser cannot read", metadata: [
            "error": "\(error)", "remote": "\(context.channel.remoteAddress?.description ?? "unknown")",
        ])
        isRefusing = true
        refusal = "the request is not valid HTTP/1.1 (\(error))"
        // A pipelined request that could not be parsed waits for the answer to the one before it.
        if responsesOwed == 0 { answer(context: context) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let isEnd: Bool
        if case .end = unwrapOutboundIn(data) { isEnd = true } else { isEnd = false }
        context.write(data, promise: promise)
        guard isEnd else { return }
        responsesOwed = max(0, responsesOwed - 1)
        if isRefusing && responsesOwed == 0 { answer(context: context) }
    }

    private func answer(context: ChannelHandlerContext) {
        guard !isAnswered else { return }
        isAnswered = true
        let body = (try? ContractCoding.encode(ErrorBody("bad_request", message: refusal))) ?? Data()
        var head = HTTPResponse(status: .badRequest)
        head.headerFields[.contentType] = "application/json"
        head.headerFields[.contentLength] = String(body.count)
        head.headerFields[.connection] = "close"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

@available(*, unavailable)
extension MalformedRequestHandler: Sendable {}
