import Foundation
import TestSupport
import Testing

/// The HTTP server every service runs (ServiceRuntime), checked on the api-gateway process with a raw socket:
/// slow clients are cut off, and a method a path does not take is 405.
extension ServiceOperationsTests {
    @Test("slow clients are closed: idle keep-alive, a partial head, a stalled body, a trickled body; /health answers meanwhile")
    func slowClientsAreClosed() async throws {
        // Short timeouts so that the test waits seconds; the waits below allow ten times as much for a loaded machine.
        let timeouts = ["LEITSTAND_HTTP_IDLE_TIMEOUT_S": "2", "LEITSTAND_HTTP_READ_TIMEOUT_S": "3"]
        try await withGateway(extraEnvironment: timeouts) { gateway, _, _ in
            try await waitUntil("healthy") { try await HTTPProbe.get("\(gateway.baseURL)/health").status == 200 }
            let idle = try RawHTTPConnection(port: gateway.port)
            idle.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let partialHead = try RawHTTPConnection(port: gateway.port)
            partialHead.send("POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n")
            let stalledBody = try RawHTTPConnection(port: gateway.port)
            stalledBody.send("POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"username\":")
            let trickledBody = try RawHTTPConnection(port: gateway.port)
            trickledBody.send("POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000\r\n\r\n")

            #expect(try await HTTPProbe.get("\(gateway.baseURL)/health").status == 200, "/health while four slow clients hold connections")
            // A byte every 200 ms never lets the idle timeout (2 s) pass: only the read timeout ends this one.
            try await waitUntil("the trickled body is cut off", timeout: .seconds(30), interval: .milliseconds(200)) {
                trickledBody.send(" ")
                return trickledBody.poll()
            }
            try await waitUntil("the idle keep-alive connection is closed", timeout: .seconds(30)) { idle.poll() }
            #expect(idle.response?.status == 200, "the request before the idle time was answered")
            try await waitUntil("the partial head is closed", timeout: .seconds(30)) { partialHead.poll() }
            try await waitUntil("the stalled body is closed", timeout: .seconds(30)) { stalledBody.poll() }
            #expect(try await HTTPProbe.get("\(gateway.baseURL)/health").status == 200)
            let metrics = try await HTTPProbe.get("\(gateway.baseURL)/metrics").text
            let readTimeouts = metrics.split(separator: "\n").first { $0.hasPrefix("leitstand_http_read_timeouts_total ") }
            #expect(readTimeouts.flatMap { Double($0.split(separator: " ")[1]) } ?? 0 >= 1, "\(metrics)")
        }
    }

    @Test("a method a path does not take: 405 method_not_allowed with Allow; TRACE, TRACK and CONNECT are never allowed")
    func methodNotAllowed() async throws {
        try await withGateway { gateway, _, _ in
            let trace = try await RawHTTPConnection.exchange(port: gateway.port, "TRACE", "/health")
            #expect(trace.status == 405)
            #expect(trace.headers["allow"] == "GET")
            #expect(trace.headers["content-type"] == "application/json")
            let body = (try? JSONSerialization.jsonObject(with: Data(trace.body.utf8))) as? [String: Any]
            #expect(body?["error"] as? String == "method_not_allowed")
            #expect((body?["message"] as? String)?.contains("TRACE") == true, "\(trace.body)")

            for (method, target, allow) in [
                ("TRACE", "/api/auth/login", "POST"), ("GET", "/api/auth/login", "POST"), ("DELETE", "/api/door/open/lobby", "POST"),
                ("CONNECT", "/health", "GET"), ("POST", "/metrics", "GET"), ("PUT", "/ingest/sensors", "POST"),
            ] {
                let answer = try await RawHTTPConnection.exchange(port: gateway.port, method, target)
                #expect(answer.status == 405 && answer.headers["allow"] == allow, "\(method) \(target): \(answer)")
            }
            // llhttp does not parse TRACK at all.
            #expect(try await RawHTTPConnection.exchange(port: gateway.port, "TRACK", "/health").status == 400)
            #expect(try await RawHTTPConnection.exchange(port: gateway.port, "TRACE", "/nowhere").status == 404)
            #expect(try await RawHTTPConnection.exchange(port: gateway.port, "GET", "/nowhere").status == 404)
        }
    }
}
