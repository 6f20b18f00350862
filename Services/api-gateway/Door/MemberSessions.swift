import Foundation
import HTTPTypes
import Hummingbird
import JWTKit
import ServiceKit

/// Issues and checks member sessions: a JWT in the login's body and in the HttpOnly cookie `leitstand_session`;
/// requests may present either (`Authorization: Bearer` wins).
struct MemberSessions: Sendable {
    static let cookieName = "leitstand_session"

    let keys: JWTKeyCollection
    let lifetime: Duration
    let secureCookie: Bool

    static func make(secret: String, lifetime: Duration, secureCookie: Bool) async -> MemberSessions {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return MemberSessions(keys: keys, lifetime: lifetime, secureCookie: secureCookie)
    }

    func issue(username: String, isAdmin: Bool) async throws -> String {
        let now = Date()
        let claims = SessionClaims(
            sub: .init(value: username),
            admin: isAdmin,
            exp: .init(value: now.addingTimeInterval(Double(lifetime.components.seconds))),
            iat: .init(value: now)
        )
        return try await keys.sign(claims)
    }

    /// The session's `Set-Cookie` value.
    func cookie(for token: String) -> String {
        var attributes = ["\(Self.cookieName)=\(token)", "Path=/", "HttpOnly", "SameSite=Strict", "Max-Age=\(lifetime.components.seconds)"]
        if secureCookie { attributes.append("Secure") }
        return attributes.joined(separator: "; ")
    }

    /// The member behind the request, or nil when there is no valid, unexpired session.
    func member(of request: Request) async -> SessionClaims? {
        guard let token = request.bearerToken.map(String.init) ?? Self.cookieToken(request) else { return nil }
        return try? await keys.verify(token, as: SessionClaims.self)
    }

    private static func cookieToken(_ request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if parts.count == 2 && parts[0] == cookieName { return String(parts[1]) }
            }
        }
        return nil
    }
}
