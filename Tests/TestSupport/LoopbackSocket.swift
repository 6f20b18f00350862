import Foundation

/// TCP sockets on 127.0.0.1 for tests that speak to a service byte by byte (a slow client, a malformed body) or
/// stand in for a server that never answers.
public enum LoopbackSocket {
    /// A new socket connected to 127.0.0.1:`port`; the caller closes it.
    public static func connect(port: Int) throws -> Int32 {
        try open(port: port, action: "connect to") { Glibc.connect($0, $1, $2) == 0 }
    }

    /// A new socket listening on 127.0.0.1:`port`; the caller closes it.
    public static func listen(port: Int, backlog: Int32 = 64) throws -> Int32 {
        try open(port: port, action: "listen on") { descriptor, address, length in
            bind(descriptor, address, length) == 0 && Glibc.listen(descriptor, backlog) == 0
        }
    }

    /// Whether a new socket can do `body` with 127.0.0.1:`port` (it is closed afterwards).
    static func succeeds(port: Int, _ body: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Bool) -> Bool {
        guard let descriptor = try? open(port: port, action: "use", body) else { return false }
        close(descriptor)
        return true
    }

    private static func open(port: Int, action: String, _ body: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Bool) throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestSupportError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let done = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard done else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw TestSupportError("\(action) 127.0.0.1:\(port): \(reason)")
        }
        return descriptor
    }
}
