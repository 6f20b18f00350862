import Foundation

/// A TCP port on 127.0.0.1 that takes connections (the kernel completes the handshake) and never says a word:
/// a database or broker that hangs, as a paused or half-dead server does. Closed by ``close()``.
public final class SilentListener: Sendable {
    public let port: Int
    private let descriptor: Int32

    public init() throws {
        let port = try freeTCPPort()
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestSupportError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else {
            Glibc.close(descriptor)
            throw TestSupportError("cannot listen on \(port): \(String(cString: strerror(errno)))")
        }
        self.port = port
        self.descriptor = descriptor
    }

    public func close() { Glibc.close(descriptor) }
}
