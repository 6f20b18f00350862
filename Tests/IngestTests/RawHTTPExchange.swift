import Dispatch
import Foundation
import TestSupport

/// One HTTP/1.1 exchange over a plain socket, for requests that URLSession will not send (a malformed chunked body).
struct RawHTTPExchange {
    /// The response's status code and its whole text (head and body).
    let status: Int
    let text: String

    /// Sends `request` to 127.0.0.1:`port` and reads the response: until the body announced by `Content-Length` is in,
    /// the server closes, or 10 s pass. The blocking socket calls run off the tasks' threads.
    static func send(_ request: String, port: Int) async throws -> RawHTTPExchange {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try exchange(Array(request.utf8), port: port) })
            }
        }
    }

    private static func exchange(_ request: [UInt8], port: Int) throws -> RawHTTPExchange {
        let descriptor = try LoopbackSocket.connect(port: port)
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw TestSupportError("send: \(String(cString: strerror(errno)))") }
            sent += count
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !isComplete(received) {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }  // closed, or the timeout
            received += buffer[0..<count]
        }
        let text = String(decoding: received, as: UTF8.self)
        guard let status = text.firstMatch(of: /^HTTP\/1\.1 (\d{3})/).flatMap({ Int($0.1) }) else {
            throw TestSupportError("no HTTP response: \(text.debugDescription)")
        }
        return RawHTTPExchange(status: status, text: text)
    }

    /// Whether `bytes` hold a whole response with a `Content-Length` body.
    private static func isComplete(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let headEnd = text.range(of: "\r\n\r\n"),
            let length = text[..<headEnd.lowerBound].firstMatch(of: /(?i)\r\ncontent-length: *(\d+)/).flatMap({ Int($0.1) })
        else { return false }
        return text.utf8.distance(from: headEnd.upperBound.samePosition(in: text.utf8)!, to: text.utf8.endIndex) >= length
    }
}
