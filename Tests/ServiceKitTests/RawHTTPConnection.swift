import Foundation
import TestSupport

/// A TCP connection to a service that sends exactly the bytes a test gives it, when the test gives them: a slow
/// or stalled client, or a method URLSession would not send. Never blocks: it reads what has arrived and notes
/// when the service closed the connection, for ``waitUntil(_:timeout:interval:_:)`` to wait on.
final class RawHTTPConnection {
    private let descriptor: Int32
    /// Everything the service sent so far.
    private(set) var received = Data()
    /// Whether the service closed (or reset) the connection.
    private(set) var isClosed = false

    /// Whether the test closed it (``close()``): nothing is sent or read any more.
    private var isReleased = false

    init(port: Int) throws {
        descriptor = try LoopbackSocket.connect(port: port)
    }

    deinit { close() }

    /// Closes the connection from the client's side (a client that gives up).
    func close() {
        guard !isReleased else { return }
        isReleased = true
        Foundation.close(descriptor)
    }

    /// Sends `text`; on a connection the service closed this only marks it closed (no SIGPIPE).
    func send(_ text: String) {
        guard !isReleased else { return }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Foundation.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else {
                isClosed = true
                return
            }
            offset += sent
        }
    }

    /// Reads whatever has arrived without waiting and returns whether the service has closed the connection.
    @discardableResult
    func poll() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while !isClosed && !isReleased {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count > 0 {
                received.append(contentsOf: buffer[0..<count])
            } else if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) {
                isClosed = true
            } else {
                break
            }
        }
        return isClosed
    }

    /// What the service answered: status, header fields (names in lower case), body. Nil until a head arrived.
    var response: (status: Int, headers: [String: String], body: String)? {
        let text = String(decoding: received, as: UTF8.self)
        guard let headEnd = text.range(of: "\r\n\r\n"), let head = Self.parseHead(text[..<headEnd.lowerBound]) else { return nil }
        return (head.status, head.headers, String(text[headEnd.upperBound...]))
    }

    /// Every complete answer so far, in order, each body as long as its `Content-Length` says: the answers to
    /// pipelined requests.
    var responses: [(status: Int, headers: [String: String], body: String)] {
        let bytes = [UInt8](received)
        let separator = Array("\r\n\r\n".utf8)
        var offset = 0
        var found: [(status: Int, headers: [String: String], body: String)] = []
        while let headEnd = (offset..<max(offset, bytes.count - 3)).first(where: { bytes[$0..<$0 + 4].elementsEqual(separator) }),
            let head = Self.parseHead(Substring(String(decoding: bytes[offset..<headEnd], as: UTF8.self)))
        {
            let bodyStart = headEnd + 4
            let length = Int(head.headers["content-length"] ?? "0") ?? 0
            guard bytes.count - bodyStart >= length else { break }
            found.append((head.status, head.headers, String(decoding: bytes[bodyStart..<bodyStart + length], as: UTF8.self)))
            offset = bodyStart + length
        }
        return found
    }

    private static func parseHead(_ text: Substring) -> (status: Int, headers: [String: String])? {
        var lines = text.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, headers)
    }

    /// Sends one request with `Connection: close` and returns the whole answer, once the service has closed.
    static func exchange(port: Int, _ method: String, _ target: String) async throws -> (status: Int, headers: [String: String], body: String) {
        try await exchange(port: port, raw: "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    }

    /// Sends `raw` as it is (a request NIO's parser refuses, say) and returns the answer once the service has closed.
    static func exchange(port: Int, raw: String) async throws -> (status: Int, headers: [String: String], body: String) {
        let connection = try RawHTTPConnection(port: port)
        connection.send(raw)
        let start = raw.prefix { $0 != "\r" }.prefix(40)
        try await waitUntil("\(start) answered") { connection.poll() }
        guard let response = connection.response else {
            throw TestSupportError("\(start): no HTTP response in \(String(decoding: connection.received, as: UTF8.self))")
        }
        return response
    }
}
