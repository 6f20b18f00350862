import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The member's and the polling devices' HTTP side: keep-alive connections, one per worker, through
/// AsyncHTTPClient (URLSession's libcurl cost as much CPU as the gateway it was measuring).
struct BenchmarkHTTP: Sendable {
    let base: String
    private let client: HTTPClient

    init(base: String, connections: Int) {
        self.base = base
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func send(_ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:]) async throws -> (status: Int, json: [String: Any]) {
        var request = HTTPClientRequest(url: base + path)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let json = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any]) ?? [:]
        return (Int(response.status.code), json)
    }

    func login(_ username: String, _ password: String) async throws -> String {
        let response = try await send("POST", "/api/auth/login", body: try JSONSerialization.data(withJSONObject: ["username": username, "password": password]))
        guard let token = response.json["token"] as? String else { throw BenchmarkError("login failed: \(response.status) \(response.json)") }
        return token
    }

    func shutdown() async throws {
        try await client.shutdown()
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
