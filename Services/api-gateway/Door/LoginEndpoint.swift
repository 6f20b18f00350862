import Contracts
import DoorStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceKit

/// `POST /api/auth/login` `{"username","password"}` → 200 `{"token","expiresIn"}` and the session cookie;
/// 401 `invalid_credentials`; 429 `too_many_attempts` with `Retry-After` after repeated failures.
struct LoginEndpoint: Sendable {
    let members: MemberDirectory
    let sessions: MemberSessions
    let logger: Logger

    private struct Credentials: Decodable {
        var username: String
        var password: String
    }

    private struct Issued: Encodable {
        var token: String
        var expiresIn: Int64
    }

    func register(on router: Router<some RequestContext>) {
        router.post("api/auth/login") { request, _ in await login(request) }
    }

    private func login(_ request: Request) async -> Response {
        guard
            let body = try? await request.body.collect(upTo: 16_384),
            let credentials = try? JSONDecoder().decode(Credentials.self, from: Data(body.readableBytesView)),
            // Counted in code points, as JSON Schema counts minLength and maxLength (docs/openapi.yaml says the same).
            (1...128).contains(credentials.username.unicodeScalars.count), credentials.password.unicodeScalars.count <= 1_024
        else {
            return DoorError.invalidRequest.response(#"send {"username": "…" (1–128 characters), "password": "…" (at most 1024)} as JSON"#)
        }
        do {
            let throttleKey = "login:\(credentials.username.lowercased())"
            switch try await members.login(username: credentials.username, password: credentials.password, throttleKey: throttleKey) {
            case .member(let member):
                let token = try await sessions.issue(username: member.username, isAdmin: member.isAdmin)
                logger.info("member logged in", metadata: ["member": "\(member.username)"])
                var headers: HTTPFields = [:]
                headers[.setCookie] = sessions.cookie(for: token).description
                return try JSONResponse.make(.ok, Issued(token: token, expiresIn: sessions.lifetime.components.seconds), headers: headers)
            case .invalidCredentials:
                logger.info("login refused", metadata: ["member": "\(credentials.username)"])
                return DoorError.invalidCredentials.response("wrong username or password")
            case .throttled(let retryAfter):
                logger.warning("login throttled", metadata: ["member": "\(credentials.username)", "retryAfterSeconds": "\(retryAfter)"])
                return DoorError.tooManyAttempts.response("too many failed logins; wait", retryAfter: retryAfter)
            }
        } catch {
            logger.error("login failed", metadata: ["error": "\(error)"])
            return DoorError.loginUnavailable.response("login is not possible right now (the database is not reachable)", retryAfter: 2)
        }
    }
}
