import Foundation

/// The door-scheduler's methods behind `leitstand/rpc/door-scheduler/{method}`. The gateway authenticates the
/// caller and forwards who it is; the scheduler decides and replies with an HTTP status and a body
/// (``RPCReply``) that the gateway passes on unchanged.
public enum DoorRPC {
    public static let service = "door-scheduler"

    public enum Method: String, Sendable, CaseIterable {
        case open, job, poll, confirm
        public var topic: String { Topic.rpc(DoorRPC.service, rawValue) }
    }

    /// Who asks, as the gateway found it in a valid session token. The scheduler checks it against the members
    /// table in the same transaction that decides (rights are checked when used, not when the token was made):
    /// a removed or disabled member, or a session version that `leitstand member logout-all` has moved past, is
    /// `unauthorized`, and whether the member is an admin is read there, never taken from the token.
    public struct Session: Codable, Sendable, Equatable {
        public var member: String
        public var sessionVersion: Int

        public init(member: String, sessionVersion: Int) {
            self.member = member
            self.sessionVersion = sessionVersion
        }
    }

    /// `POST /api/door/open/{area}` of an authenticated member.
    public struct OpenRequest: Codable, Sendable, Equatable {
        public var session: Session
        public var area: String
        public var idempotencyKey: String?

        public init(session: Session, area: String, idempotencyKey: String?) {
            self.session = session
            self.area = area
            self.idempotencyKey = idempotencyKey
        }
    }

    /// The 202 body of an open.
    public struct OpenAccepted: Codable, Sendable, Equatable {
        public var jobId: String
        public var status: DoorJobStatus
        public var area: String
        public var expiresInMs: Int

        public init(jobId: String, status: DoorJobStatus, area: String, expiresInMs: Int) {
            self.jobId = jobId
            self.status = status
            self.area = area
            self.expiresInMs = expiresInMs
        }
    }

    /// `GET /api/door/jobs/{jobId}`: the job's own member or an admin may read it.
    public struct JobRequest: Codable, Sendable, Equatable {
        public var jobId: String
        public var session: Session

        public init(jobId: String, session: Session) {
            self.jobId = jobId
            self.session = session
        }
    }

    /// `GET /api/device/poll/{deviceId}` with the device's secret (the HTTP fallback of seed 000's pull model).
    /// The gateway forwards the secret's SHA-256 (hex), never the secret: whoever may read the RPC topic cannot
    /// take it from there to the HTTP API.
    public struct PollRequest: Codable, Sendable, Equatable {
        public var deviceId: String
        public var secretDigest: String

        public init(deviceId: String, secretDigest: String) {
            self.deviceId = deviceId
            self.secretDigest = secretDigest
        }
    }

    /// The 200 body of a poll.
    public struct PollReply: Codable, Sendable, Equatable {
        public struct Job: Codable, Sendable, Equatable {
            public var jobId: String
            public var area: String
            public var nonce: String
            public var expiresInMs: Int

            public init(jobId: String, area: String, nonce: String, expiresInMs: Int) {
                self.jobId = jobId
                self.area = area
                self.nonce = nonce
                self.expiresInMs = expiresInMs
            }
        }

        public var jobs: [Job]

        public init(jobs: [Job]) { self.jobs = jobs }
    }

    /// `POST /api/device/confirm/{jobId}` with the device's secret (forwarded as its SHA-256, as for a poll).
    public struct ConfirmRequest: Codable, Sendable, Equatable {
        public var jobId: String
        public var deviceId: String
        public var nonce: String
        public var result: DoorConfirm.Result
        public var message: String?
        public var secretDigest: String

        public init(jobId: String, deviceId: String, nonce: String, result: DoorConfirm.Result, message: String?, secretDigest: String) {
            self.jobId = jobId
            self.deviceId = deviceId
            self.nonce = nonce
            self.result = result
            self.message = message
            self.secretDigest = secretDigest
        }
    }

    /// The 200 body of a confirm: the job's status after it.
    public struct ConfirmReply: Codable, Sendable, Equatable {
        public var status: DoorJobStatus

        public init(status: DoorJobStatus) { self.status = status }
    }
}

/// `pending` → `dispatched` → `executed` | `failed`; `pending`/`dispatched` → `expired` when no confirm came in time.
public enum DoorJobStatus: String, Codable, Sendable, CaseIterable {
    case pending, dispatched, executed, failed, expired
}

extension DoorConfirm.Result {
    /// The state a job ends in when its device confirms with this result.
    public var jobStatus: DoorJobStatus { self == .executed ? .executed : .failed }
}

/// The body of `GET /api/door/jobs/{jobId}`.
public struct DoorJobView: Codable, Sendable, Equatable {
    public var jobId: String
    public var area: String
    public var status: DoorJobStatus
    public var resultCode: String?
    public var resultMessage: String?
    public var createdAt: Date
    public var dispatchedAt: Date?
    public var executedAt: Date?
    public var expiresAt: Date
    /// A confirm that came after the job expired: the door may have opened late.
    public var lateConfirmAt: Date?

    public init(
        jobId: String, area: String, status: DoorJobStatus, resultCode: String?, resultMessage: String?, createdAt: Date,
        dispatchedAt: Date?, executedAt: Date?, expiresAt: Date, lateConfirmAt: Date?
    ) {
        self.jobId = jobId
        self.area = area
        self.status = status
        self.resultCode = resultCode
        self.resultMessage = resultMessage
        self.createdAt = createdAt
        self.dispatchedAt = dispatchedAt
        self.executedAt = executedAt
        self.expiresAt = expiresAt
        self.lateConfirmAt = lateConfirmAt
    }
}
