import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The member's and the polling devices' HTTP side, with enough connections for one worker per area.
struct BenchmarkHTTP: Sendable {
    let base: String
    private let session: URLSession

    init(base: String) {
        self.base = base
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 512
        configuration.httpShouldSetCookies = false
        configuration.timeoutIntervalForRequest = 30
        session = URLSession(configuration: configuration)
    }

    func send(_ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:]) async throws -> (status: Int, json: [String: Any]) {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        request.httpBody = body
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        let (data, response) = try await session.data(for: request)
        let json = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, json)
    }

    func login(_ username: String, _ password: String) async throws -> String {
        let response = try await send("POST", "/api/auth/login", body: try JSONSerialization.data(withJSONObject: ["username": username, "password": password]))
        guard let token = response.json["token"] as? String else { throw BenchmarkError("login failed: \(response.status) \(response.json)") }
        return token
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
