import JWTKit

/// What a member's session token says: who, whether admin, until when. HS256 under `LEITSTAND_JWT_SECRET`.
struct SessionClaims: JWTPayload {
    var sub: SubjectClaim
    var admin: Bool
    var exp: ExpirationClaim
    var iat: IssuedAtClaim

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}
