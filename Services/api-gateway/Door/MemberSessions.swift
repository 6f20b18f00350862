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

    /// The session's `Set-Cookie`.
    func cookie(for token: String) -> Cookie {
        Cookie(
            name: Self.cookieName, value: token, maxAge: Int(lifetime.components.seconds), path: "/",
            secure: secureCookie, httpOnly: true, sameSite: .strict
        )
    }

    /// The member behind the request, or nil when there is no valid, unexpired session.
    func member(of request: Request) async -> SessionClaims? {
        guard let token = request.bearerToken.map(String.init) ?? request.cookies[Self.cookieName]?.value else { return nil }
        return try? await keys.verify(token, as: SessionClaims.self)
    }
}
