/// The stable error codes of the door API (`{"error": code, …}`), with the HTTP status each one answers.
public enum DoorError: String, Sendable, CaseIterable {
    case unauthorized
    case invalidCredentials = "invalid_credentials"
    case tooManyAttempts = "too_many_attempts"
    case areaForbidden = "area_forbidden"
    case unknownArea = "unknown_area"
    case unknownJob = "unknown_job"
    case rateLimited = "rate_limited"
    case doorInUse = "door_in_use"
    case doorOffline = "door_offline"
    case idempotencyConflict = "idempotency_conflict"
    case invalidRequest = "invalid_request"
    case deviceForbidden = "device_forbidden"
    case nonceMismatch = "nonce_mismatch"
    case deviceMismatch = "device_mismatch"
    case alreadyConfirmed = "already_confirmed"
    case confirmTimeout = "confirm_timeout"
    case schedulerUnavailable = "scheduler_unavailable"
    case loginUnavailable = "login_unavailable"
    /// The area's device cannot be given a job: its secret does not open with `LEITSTAND_SECRET_KEY`. The job is
    /// failed at once (`SECRET_UNREADABLE`) instead of waiting out its window; the operator must look.
    case deviceMisconfigured = "device_misconfigured"

    public var httpStatus: Int {
        switch self {
        case .unauthorized, .invalidCredentials: 401
        case .areaForbidden, .deviceForbidden, .nonceMismatch, .deviceMismatch: 403
        case .unknownArea, .unknownJob: 404
        case .idempotencyConflict, .alreadyConfirmed: 409
        case .confirmTimeout: 410
        case .invalidRequest: 400
        case .tooManyAttempts, .rateLimited, .doorInUse: 429
        case .doorOffline, .schedulerUnavailable, .loginUnavailable, .deviceMisconfigured: 503
        }
    }
}
