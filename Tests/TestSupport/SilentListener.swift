import Foundation

/// A TCP port on 127.0.0.1 that takes connections (the kernel completes the handshake) and never says a word:
/// a database or broker that hangs, as a paused or half-dead server does. Closed by ``close()``.
public final class SilentListener: Sendable {
    public let port: Int
    private let descriptor: Int32

    public init() throws {
        port = try freeTCPPort()
        descriptor = try LoopbackSocket.listen(port: port)
    }

    public func close() { Glibc.close(descriptor) }
}
