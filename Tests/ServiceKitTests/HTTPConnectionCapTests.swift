import Foundation
import TestSupport
import Testing

/// The cap on open HTTP connections every service's server has (`LEITSTAND_HTTP_MAX_CONNECTIONS`), checked on the
/// api-gateway process: idle connections past the cap cannot keep `/health` out, and a service whose file limit is
/// low holds at most half of it in connections (1 100 idle connections took a gateway at 1 024 files down).
extension ServiceOperationsTests {
    @Test("at the connection cap the longest idle connection makes room: /health answers; only when all are busy is a new one refused (fails before: no cap)")
    func connectionCap() async throws {
        let environment = ["LEITSTAND_HTTP_MAX_CONNECTIONS": "20", "LEITSTAND_HTTP_READ_TIMEOUT_S": "120", "LEITSTAND_HTTP_IDLE_TIMEOUT_S": "120"]
        try await withGateway(extraEnvironment: environment) { gateway, _, _ in
            try await waitUntil("healthy") { try await HTTPProbe.get("\(gateway.baseURL)/health").status == 200 }
            // 30 connections that send nothing: ten are closed to make room, without an answer. (Which ten depends on
            // the order in which the event loops took them, not quite the order of connecting.)
            let idle = try (0..<30).map { _ in try RawHTTPConnection(port: gateway.port) }
            try await waitUntil("ten idle connections are closed") { idle.filter { $0.poll() }.count >= 10 }
            #expect(idle.filter { $0.poll() }.count == 10)
            #expect(idle.allSatisfy { $0.received.isEmpty })

            // /health, on a connection of its own, takes the place of one more of them.
            #expect(try await RawHTTPConnection.exchange(port: gateway.port, "GET", "/health").status == 200, "/health while idle connections hold the cap")
            try await waitUntil("/health took an idle connection's place") { idle.filter { $0.poll() }.count >= 11 }
            let metrics = try await HTTPProbe.get("\(gateway.baseURL)/metrics").text
            #expect(Self.metric("leitstand_http_connections_closed_idle_total", in: metrics) ?? 0 >= 11, "\(metrics)")
            #expect(Self.metric("leitstand_http_connections_max", in: metrics) == 20, "\(metrics)")
            #expect(Self.metric("leitstand_http_connections", in: metrics).map { $0 <= 20 } == true, "\(metrics)")

            // 20 connections each with a request in progress (a login whose body never comes). Each sends a request
            // that is answered at once in the same segment before it: once that answer is here, the server has read
            // the login's head too, so the connection is busy before the next one opens.
            let busy = try (0..<20).map { _ in try RawHTTPConnection(port: gateway.port) }
            for connection in busy {
                connection.send(
                    "GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                        + "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
                )
                try await waitUntil("the request before the stalled login is answered") {
                    connection.poll()
                    return connection.response != nil
                }
            }
            #expect(busy.allSatisfy { !$0.poll() }, "no busy connection is closed to make room")
            let refused = try RawHTTPConnection(port: gateway.port)
            try await waitUntil("a connection past the cap of busy ones is closed") { refused.poll() }
            #expect(refused.received.isEmpty)
            #expect(busy.allSatisfy { !$0.poll() })

            // One busy connection goes: there is room again.
            busy[0].close()
            try await waitUntil("/health answers again") { try await HTTPProbe.get("\(gateway.baseURL)/health").status == 200 }
            let after = try await HTTPProbe.get("\(gateway.baseURL)/metrics").text
            #expect(Self.metric("leitstand_http_connections_refused_total", in: after) ?? 0 >= 1, "\(after)")
            // Rate-limited: a warning at most every 10 s, not one per connection (over 12 here).
            let warnings = gateway.process.output.split(separator: "\n").filter { $0.contains("HTTP connections at the cap") }
            #expect((1...3).contains(warnings.count), "\(warnings)")
        }
    }

    @Test("at a file limit of 256 the gateway holds 128 connections and keeps answering 300 idle ones (fails before: /health timed out)")
    func lowFileLimit() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit"), "prlimit is missing: install util-linux")
        try await TestDatabase.with { database in
            try await MosquittoBroker.with { broker in
                let port = try freeTCPPort()
                let directory = try makeTemporaryDirectory("api-gateway-nofile")
                defer { try? FileManager.default.removeItem(at: directory) }
                // As systemd's default would, but lower, so that the test needs a few hundred connections, not thousands.
                let gateway = try ChildProcess(
                    name: "api-gateway (256 files)", executable: URL(fileURLWithPath: "/usr/bin/prlimit"),
                    arguments: ["--nofile=256:256", try projectExecutable("api-gateway").path],
                    environment: ServiceProcess.gatewayEnvironment(broker: broker, databaseURL: database.url, port: port),
                    outputFile: directory.appendingPathComponent("output.log")
                )
                do {
                    let baseURL = "http://127.0.0.1:\(port)"
                    try await waitUntil("healthy", timeout: .seconds(20)) { try await HTTPProbe.get("\(baseURL)/health").status == 200 }
                    let idle = try (0..<300).map { _ in try RawHTTPConnection(port: port) }
                    // On a connection of its own: URLSession would reuse the one it kept from the probe above.
                    #expect(try await RawHTTPConnection.exchange(port: port, "GET", "/health").status == 200, "/health while 300 idle connections are open")
                    try await waitUntil("all but 128 idle connections are closed", timeout: .seconds(20)) {
                        idle.filter { !$0.poll() }.count <= 128
                    }
                    let metrics = try await HTTPProbe.get("\(baseURL)/metrics").text
                    #expect(Self.metric("leitstand_http_connections_max", in: metrics) == 128, "\(metrics)")
                    #expect(gateway.isRunning)
                    #expect(gateway.output.contains("lowered to half the file limit"), "\(gateway.output)")
                } catch {
                    print("gateway output:\n\(gateway.output)")
                    await gateway.stop()
                    throw error
                }
                await gateway.stop()
            }
        }
    }

    /// The value of an unlabelled metric in Prometheus text.
    static func metric(_ name: String, in text: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix("\(name) ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }
}
