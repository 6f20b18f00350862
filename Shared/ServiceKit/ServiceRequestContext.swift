import Hummingbird
import NIOCore

/// The request context of every Leitstand service: Hummingbird's basics plus the peer's socket address, which the
/// gateway needs to throttle failed logins per client (``ClientAddress``).
public struct ServiceRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The TCP peer: the client itself, or the reverse proxy in front of the gateway.
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
