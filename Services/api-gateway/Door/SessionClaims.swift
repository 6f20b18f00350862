import JWTKit

/// What a member's session token says: who, under which session version, until when. HS256 under
/// `LEITSTAND_JWT_SECRET`. It carries no rights: whether the member still exists, is enabled, is still on this
/// session version and is an admin is checked where the request is decided (the scheduler, in the transaction).
struct SessionClaims: JWTPayload {
    var sub: SubjectClaim
    /// The member's session version when the token was issued (`leitstand member logout-all` moves it on).
    var sv: Int
    var exp: ExpirationClaim
    var iat: IssuedAtClaim

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}
