import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import MQTT
import NIOCore
import Primitives
import Prometheus

/// `GET /health` and `GET /metrics`, the same on every service.
public struct OperationsEndpoints<Context: RequestContext>: Sendable {
    let identity: ServiceIdentity
    let checks: [HealthCheck]
    let registry: PrometheusCollectorRegistry
    /// When set, `/metrics` wants `Authorization: Bearer <token>`.
    let metricsToken: String?

    public init(identity: ServiceIdentity, checks: [HealthCheck], registry: PrometheusCollectorRegistry, metricsToken: String?) {
        self.identity = identity
        self.checks = checks
        self.registry = registry
        self.metricsToken = metricsToken
    }

    public func register(on router: Router<Context>) {
        router.get("health") { _, _ in try await self.health() }
        router.get("metrics") { request, _ in self.metrics(request) }
    }

    /// 200 when every link is up, else 503 naming the links that are down.
    func health() async throws -> Response {
        let results = await withTaskGroup(of: (String, Bool).self) { group in
            for check in checks {
                group.addTask {
                    let up = (try? await withTimeout(.seconds(2), operation: "health check \(check.name)") { await check.isUp() }) ?? false
                    return (check.name, up)
                }
            }
            var results: [String: String] = [:]
            for await (name, up) in group { results[name] = up ? "up" : "down" }
            return results
        }
        let healthy = results.values.allSatisfy { $0 == "up" }
        let report = HealthReport(status: healthy ? "ok" : "unavailable", service: identity.name, version: identity.version, checks: results)
        return try JSONResponse.make(healthy ? .ok : .serviceUnavailable, report)
    }

    func metrics(_ request: Request) -> Response {
        if let metricsToken {
            guard let presented = request.bearerToken, ConstantTime.equals(presented, metricsToken) else {
                return ErrorBody("unauthorized").response(.unauthorized)
            }
        }
        let text = registry.emitToBuffer()
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: text))
        )
    }
}

extension ErrorBody {
    /// This error as an HTTP response: the body, and `Retry-After` when it says how long to wait.
    public func response(_ status: HTTPResponse.Status) -> Response {
        var headers: HTTPFields = [:]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        return (try? JSONResponse.make(status, self, headers: headers)) ?? Response(status: status, headers: headers)
    }
}

/// JSON responses with the contract's encoding.
public enum JSONResponse {
    public static func make(_ status: HTTPResponse.Status, _ body: some Encodable, headers: HTTPFields = [:]) throws -> Response {
        let data = try ContractCoding.encode(body)
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(
            status: status,
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}

extension Request {
    /// The token of an `Authorization: Bearer <token>` header.
    public var bearerToken: Substring? {
        headers[.authorization].flatMap { header in header.hasPrefix("Bearer ") ? header.dropFirst("Bearer ".count) : nil }
    }
}
