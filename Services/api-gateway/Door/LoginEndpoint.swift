import Contracts
import DoorStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceKit

/// `POST /api/auth/login` `{"username","password"}` → 200 `{"token","expiresIn"}` and the session cookie;
/// 401 `invalid_credentials`; 429 `too_many_attempts` with `Retry-After` after repeated failures of this username
/// from this client, or of this client; 503 `login_unavailable` when the database does not answer in time.
struct LoginEndpoint: Sendable {
    /// With its database timeout set: a login never hangs on a database that is down.
    let members: MemberDirectory
    let sessions: MemberSessions
    let clientAddresses: ClientAddresses
    let logger: Logger

    private struct Credentials: Decodable {
        var username: String
        var password: String
    }

    private struct Issued: Encodable {
        var token: String
        var expiresIn: Int64
    }

    func register(on router: Router<some RemoteAddressRequestContext>) {
        router.post("api/auth/login") { request, context in await login(request, peer: context.remoteAddress) }
    }

    private func login(_ request: Request, peer: SocketAddress?) async -> Response {
        guard
            let body = try? await request.body.collect(upTo: 16_384),
            let credentials = try? JSONDecoder().decode(Credentials.self, from: Data(body.readableBytesView)),
            // Counted in code points, as JSON Schema counts minLength and maxLength (docs/openapi.yaml says the same).
            (1...128).contains(credentials.username.unicodeScalars.count), credentials.password.unicodeScalars.count <= 1_024
        else {
            return DoorError.invalidRequest.response(#"send {"username": "…" (1–128 characters), "password": "…" (at most 1024)} as JSON"#)
        }
        do {
            let address = clientAddresses.key(of: request, peer: peer)
            switch try await members.login(username: credentials.username, password: credentials.password, address: address) {
            case .member(let member):
                let token = try await sessions.issue(username: member.username, sessionVersion: member.sessionVersion)
                logger.info("member logged in", metadata: ["member": "\(member.username)"])
                var headers: HTTPFields = [:]
                headers[.setCookie] = sessions.cookie(for: token).description
                return try JSONResponse.make(.ok, Issued(token: token, expiresIn: sessions.lifetime.components.seconds), headers: headers)
            case .invalidCredentials:
                logger.info("login refused", metadata: ["member": "\(credentials.username)", "client": "\(address)"])
                return DoorError.invalidCredentials.response("wrong username or password")
            case .throttled(let retryAfter):
                logger.warning("login throttled", metadata: ["member": "\(credentials.username)", "client": "\(address)", "retryAfterSeconds": "\(retryAfter)"])
                return DoorError.tooManyAttempts.response("too many failed logins; wait", retryAfter: retryAfter)
            }
        } catch {
            logger.error("login failed: the database did not answer", metadata: ["error": "\(error)"])
            return DoorError.loginUnavailable.response("login is not possible right now (the database is not reachable)", retryAfter: 2)
        }
    }
}
