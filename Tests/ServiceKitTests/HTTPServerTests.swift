import Foundation
import TestSupport
import Testing

/// The HTTP server every service runs (ServiceRuntime), checked on the api-gateway process with a raw socket:
/// slow clients are cut off, a method a path does not take is 405, and login's body limits are what the spec says.
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
            #expect(trace.headers["allow"] == "GET, HEAD")
            #expect(trace.headers["content-type"] == "application/json")
            let body = (try? JSONSerialization.jsonObject(with: Data(trace.body.utf8))) as? [String: Any]
            #expect(body?["error"] as? String == "method_not_allowed")
            #expect((body?["message"] as? String)?.contains("TRACE") == true, "\(trace.body)")

            for (method, target, allow) in [
                ("TRACE", "/api/auth/login", "POST"), ("GET", "/api/auth/login", "POST"), ("DELETE", "/api/door/open/lobby", "POST"),
                ("CONNECT", "/health", "GET, HEAD"), ("POST", "/metrics", "GET, HEAD"), ("PUT", "/ingest/sensors", "POST"),
            ] {
                let answer = try await RawHTTPConnection.exchange(port: gateway.port, method, target)
                #expect(answer.status == 405 && answer.headers["allow"] == allow, "\(method) \(target): \(answer)")
            }
            // llhttp does not parse TRACK at all.
            #expect(try await RawHTTPConnection.exchange(port: gateway.port, "TRACK", "/health").status == 400)
            #expect(try await RawHTTPConnection.exchange(port: gateway.port, "TRACE", "/nowhere").status == 404)
            #expect(try await RawHTTPConnection.exchange(port: gateway.port, "GET", "/nowhere").status == 404)
            // HEAD is answered wherever GET is, without a body.
            #expect(try await RawHTTPConnection.exchange(port: gateway.port, "HEAD", "/health").status == 200)
        }
    }

    @Test("every error is JSON: 404 not_found for a path that does not exist, 400 bad_request for what the parser refuses (fails before: empty bodies)")
    func errorsAreJSON() async throws {
        try await withGateway { gateway, _, _ in
            try await waitUntil("healthy") { try await HTTPProbe.get("\(gateway.baseURL)/health").status == 200 }
            /// The `error` of a JSON error answer, nil when the body is not one.
            func code(_ answer: (status: Int, headers: [String: String], body: String)) -> String? {
                guard answer.headers["content-type"] == "application/json" else { return nil }
                return ((try? JSONSerialization.jsonObject(with: Data(answer.body.utf8))) as? [String: Any])?["error"] as? String
            }
            for target in ["/nowhere", "/api/nowhere", "/health/more", "/api/door/open"] {
                let answer = try await RawHTTPConnection.exchange(port: gateway.port, "GET", target)
                #expect(answer.status == 404 && code(answer) == "not_found", "GET \(target): \(answer)")
            }
            #expect(try await RawHTTPConnection.exchange(port: gateway.port, "DELETE", "/nowhere").status == 404)

            // A HEAD answer has no body, whatever the status (NIO's encoder leaves it out): its bytes would be read as
            // the start of the next response.
            for (target, status) in [("/nowhere", 404), ("/api/auth/login", 405), ("/health", 200)] {
                let answer = try await RawHTTPConnection.exchange(port: gateway.port, "HEAD", target)
                #expect(answer.status == status && answer.body.isEmpty, "HEAD \(target): \(answer)")
            }

            let refused = [
                "a malformed request line": "GET /health HTTX/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                "a head over the decoder's 80 KiB": "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n",
                "Content-Length with Transfer-Encoding":
                    "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                "TRACK, which llhttp does not parse": "TRACK /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            ]
            for (what, raw) in refused {
                let answer = try await RawHTTPConnection.exchange(port: gateway.port, raw: raw)
                #expect(answer.status == 400 && code(answer) == "bad_request", "\(what): \(answer)")
                #expect(answer.headers["connection"] == "close", "\(what): \(answer)")
            }

            // Pipelined behind a good request: that one is answered first, then the 400, then the connection closes.
            let pipelined = try RawHTTPConnection(port: gateway.port)
            pipelined.send("GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTX/1.1\r\n\r\n")
            try await waitUntil("the pipelined requests are answered and the connection closed") { pipelined.poll() }
            let answers = pipelined.responses
            #expect(answers.map(\.status) == [404, 400], "\(String(decoding: pipelined.received, as: UTF8.self))")
            #expect(answers.map(code) == ["not_found", "bad_request"])
            #expect(try await HTTPProbe.get("\(gateway.baseURL)/health").status == 200)
        }
    }

    @Test("login refuses with 400 exactly what docs/openapi.yaml's lengths refuse (in code points, as JSON Schema counts)")
    func loginLengthsAsSpecified() async throws {
        let username = try Self.loginSchemaLengths("username")
        let password = try Self.loginSchemaLengths("password")
        #expect(username.minimum == 1 && username.maximum == 128 && password.minimum == 0 && password.maximum == 1_024)
        // 129 code points that are 65 characters to Swift: an e with a combining acute accent is one of them.
        let accented = String(repeating: "e\u{301}", count: 64) + "e"
        let cases: [(username: String, password: String)] = [
            (String(repeating: "u", count: max(username.minimum - 1, 0)), "pw"), (String(repeating: "u", count: username.minimum), ""),
            (String(repeating: "u", count: username.maximum), String(repeating: "p", count: password.maximum)),
            (String(repeating: "u", count: username.maximum + 1), "pw"), (accented, "pw"),
            ("someone", String(repeating: "p", count: password.maximum + 1)),
        ]
        try await withGateway { gateway, _, _ in
            try await waitUntil("healthy") { try await HTTPProbe.get("\(gateway.baseURL)/health").status == 200 }
            for (name, secret) in cases {
                let allowed = (username.minimum...username.maximum).contains(name.unicodeScalars.count)
                    && (password.minimum...password.maximum).contains(secret.unicodeScalars.count)
                let answer = try await HTTPProbe.send(
                    "POST", "\(gateway.baseURL)/api/auth/login",
                    body: try JSONSerialization.data(withJSONObject: ["username": name, "password": secret]),
                    headers: ["Content-Type": "application/json"]
                )
                // No such member: a body the spec allows is refused as credentials, one it refuses as a request.
                let expected = allowed ? (401, "invalid_credentials") : (400, "invalid_request")
                #expect(answer.status == expected.0, "\(name.unicodeScalars.count)/\(secret.unicodeScalars.count): \(answer.text)")
                #expect(try answer.json()["error"] as? String == expected.1)
            }
        }
    }

    /// `minLength` (0 when absent) and `maxLength` of a property of the login body in docs/openapi.yaml.
    static func loginSchemaLengths(_ property: String) throws -> (minimum: Int, maximum: Int) {
        let spec = try String(contentsOf: ServiceProcess.repositoryRoot.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        let login = try #require(spec.range(of: "\n  /api/auth/login:"))
        let operation = spec[login.upperBound...].components(separatedBy: "\n  /")[0]
        let line = try #require(operation.components(separatedBy: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("\(property): {") })
        func number(_ key: String) -> Int? {
            guard let range = line.range(of: "\(key): ") else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        return (number("minLength") ?? 0, try #require(number("maxLength"), "no maxLength for \(property)"))
    }
}
