import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import JWTKit
import ServiceKit

/// Issues and checks member sessions: a JWT in the login's body and in the HttpOnly cookie `leitstand_session`;
/// requests may present either (`Authorization: Bearer` wins).
struct MemberSessions: Sendable {
    static let cookieName = "leitstand_session"
    /// The one algorithm sessions are signed with. A token whose header names any other is refused before its
    /// signature is looked at: jwt-kit picks the key by the header's `alg`, and an HS256 signature under a header
    /// that said HS512 was accepted.
    static let algorithm = "HS256"

    let keys: JWTKeyCollection
    let lifetime: Duration
    let secureCookie: Bool

    static func make(secret: String, lifetime: Duration, secureCookie: Bool) async -> MemberSessions {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return MemberSessions(keys: keys, lifetime: lifetime, secureCookie: secureCookie)
    }

    func issue(username: String, sessionVersion: Int) async throws -> String {
        let now = Date()
        let claims = SessionClaims(
            sub: .init(value: username),
            sv: sessionVersion,
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

    /// The session the request presents, or nil when there is no valid, unexpired token signed with HS256 under
    /// our key. Whether the member may still act is decided where the request is decided.
    func session(of request: Request) async -> DoorRPC.Session? {
        guard let token = request.bearerToken.map(String.init) ?? request.cookies[Self.cookieName]?.value,
            Self.headerAlgorithm(of: token) == Self.algorithm,
            let claims = try? await keys.verify(token, as: SessionClaims.self)
        else { return nil }
        return DoorRPC.Session(member: claims.sub.value, sessionVersion: claims.sv)
    }

    private struct Header: Decodable { var alg: String }

    /// The `alg` of a compact JWS header, or nil when the token is not one.
    static func headerAlgorithm(of token: String) -> String? {
        guard let encoded = token.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).first else { return nil }
        var base64 = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { return nil }
        return (try? JSONDecoder().decode(Header.self, from: data))?.alg
    }
}
