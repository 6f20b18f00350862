import Contracts
import Database
import DoorCrypto
import Foundation
import Logging
import PostgresNIO
import Primitives

/// The `door_jobs` table: every state change of a job, each in one transaction together with its audit entry.
/// Locks and limits are decided inside Postgres (advisory locks per member and area, a unique index on the active
/// job of an area), so that several scheduler replicas never hand out two jobs for one area.
public struct DoorJobLedger: Sendable {
    /// A job ready to publish: what the device gets, signed with the device's secrets.
    public struct Dispatch: Sendable {
        public var job: DoorJob
        /// false: the device is reachable only through the HTTP poll; the job waits for it as `pending`.
        public var overMQTT: Bool
    }

    public enum OpenOutcome: Sendable {
        case created(DoorRPC.OpenAccepted, Dispatch)
        /// The same `Idempotency-Key` again: the job it made, as it is now.
        case repeated(DoorRPC.OpenAccepted)
        case refused(ErrorBody)
        /// The asker's deadline had passed before anything was decided: nothing was stored, and nobody is answered.
        case late
    }

    public enum ConfirmOutcome: Sendable, Equatable {
        case recorded(DoorJobStatus)
        case refused(ErrorBody)
    }

    let client: PostgresClient
    /// Only opening needs the devices' secrets; reading and housekeeping do not.
    let devices: DeviceRegistry?
    let policy: DoorPolicy
    let service: String
    let logger: Logger

    public init(client: PostgresClient, devices: DeviceRegistry, policy: DoorPolicy, service: String, logger: Logger) {
        self.client = client
        self.devices = devices
        self.policy = policy
        self.service = service
        self.logger = logger
    }

    /// A ledger for reading jobs and housekeeping (the CLI), which never opens a door.
    public init(client: PostgresClient, service: String, logger: Logger) {
        self.client = client
        self.devices = nil
        self.policy = DoorPolicy()
        self.service = service
        self.logger = logger
    }

    // MARK: open

    /// Decides an open and, when it is allowed, commits the job (one round trip: `door_open`, migration 5), unless
    /// `deadline` (the asker's, from the request) has passed by the time the locks are held.
    /// `onlineDevices` are the devices whose retained status says online right now.
    public func open(_ request: DoorRPC.OpenRequest, deadline: Date, onlineDevices: Set<String>) async throws -> OpenOutcome {
        guard let devices else { preconditionFailure("a ledger made without devices cannot open doors") }
        let id = UUID()
        let nonce = String(SecretSealer.newDeviceSecret().prefix(32))
        let statement = DoorStatements.Open(
            session: request.session, area: request.area, idempotencyKey: request.idempotencyKey, deadline: deadline,
            onlineDevices: Array(onlineDevices), policy: policy, jobID: id, nonce: nonce, service: service
        )
        var decided: DoorStatements.Open.Row?
        for try await row in try await client.execute(statement, logger: logger) { decided = row }
        guard let row = decided else { throw DatabaseError.noRowReturned("door_open") }
        switch row.outcome {
        case "created":
            guard let deviceID = row.deviceID, let current = row.secret, let expiresAt = row.expiresAt else {
                throw DatabaseError.noRowReturned("door_open: created without device")
            }
            let jobID = id.uuidString.lowercased()
            let secrets: DeviceSecrets
            do {
                secrets = try devices.open(id: deviceID, current: current, previous: row.previousSecret)
            } catch {
                // No device could verify a job signed otherwise: fail it now rather than let it block the area.
                logger.error("door job failed: the device's secret does not open", metadata: ["job.id": "\(jobID)", "device.id": "\(deviceID)", "error": "\(error)"])
                try await failUnreadableSecret(jobID: id)
                return .refused(ErrorBody(DoorError.deviceMisconfigured.rawValue, message: "the door's device cannot be used right now; tell the operator"))
            }
            // Over MQTT the device refuses the job once the member's request has run out (it may reach the device
            // late, if the broker stalls after taking it); a polling device gets no signed job.
            let deliverBy = (row.overMQTT ?? false) ? Int64((deadline.timeIntervalSince1970 * 1_000).rounded(.down)) : nil
            let unsigned = DoorJob(
                jobId: jobID, area: request.area, deviceId: deviceID, nonce: nonce, pulseMs: policy.pulseMs, expiresAt: expiresAt,
                deliverByMs: deliverBy
            )
            var job = unsigned.signed(with: secrets.current)
            if let previous = secrets.previous { job.previousSig = unsigned.signed(with: previous).sig }
            let accepted = DoorRPC.OpenAccepted(jobId: jobID, status: .pending, area: request.area, expiresInMs: row.expiresInMs ?? 0)
            return .created(accepted, Dispatch(job: job, overMQTT: row.overMQTT ?? false))
        case "repeated":
            guard let earlier = row.jobID, let area = row.area else { throw DatabaseError.noRowReturned("door_open: repeated without job") }
            let status = row.status.flatMap(DoorJobStatus.init(rawValue:)) ?? .pending
            return .repeated(DoorRPC.OpenAccepted(jobId: earlier.uuidString.lowercased(), status: status, area: area, expiresInMs: row.expiresInMs ?? 0))
        case "late":
            return .late
        default:
            return .refused(Self.refusal(row.outcome, area: row.area ?? request.area, retryAfter: row.retryAfterSeconds))
        }
    }

    private func failUnreadableSecret(jobID: UUID) async throws {
        try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                UPDATE door_jobs SET status = 'failed', result_code = 'SECRET_UNREADABLE',
                    result_message = 'The device''s secret does not open with LEITSTAND_SECRET_KEY', executed_at = now()
                WHERE id = \(jobID) AND status = 'pending' RETURNING area, member, device_id
                """,
                logger: logger
            )
            for try await (area, member, device) in rows.decode((String, String, String?).self) {
                let detail = AuditDetail(member: member, area: area, job: jobID.uuidString.lowercased(), device: device, outcome: "failed", code: "SECRET_UNREADABLE")
                try await audit(on: connection, actor: service, type: "door.job_failed", subject: "door-job:\(jobID.uuidString.lowercased())", detail: detail)
            }
        }
    }

    /// The answer a member gets for a refused open.
    static func refusal(_ code: String, area: String, retryAfter: Int?) -> ErrorBody {
        switch DoorError(rawValue: code) {
        case .idempotencyConflict:
            ErrorBody(code, message: "this Idempotency-Key was used for area \(area)")
        case .unknownArea:
            ErrorBody(code, message: "no area is called \(area)")
        case .areaForbidden:
            ErrorBody(code, message: "you may not open \(area)")
        case .rateLimited:
            ErrorBody(code, message: "too many opens; wait", retryAfterSeconds: max(retryAfter ?? 1, 1))
        case .doorInUse:
            ErrorBody(code, message: "the door is in use; wait", retryAfterSeconds: max(retryAfter ?? 1, 1))
        case .doorOffline:
            ErrorBody(code, message: "no device of \(area) is online")
        case .unauthorized:
            ErrorBody(code, message: "your session has ended; log in again")
        default:
            ErrorBody(code, message: "the open was refused")
        }
    }

    /// Records that jobs went out over MQTT, as one statement for the whole batch (each change commits with its
    /// audit entry). Only `pending` jobs move, so a confirm that overtook its job is not undone.
    public func markDispatched(_ jobs: [DoorJob]) async throws {
        let ids = jobs.compactMap { UUID(uuidString: $0.jobId) }
        guard !ids.isEmpty else { return }
        for try await _ in try await client.execute(DoorStatements.Dispatched(jobIDs: ids, service: service), logger: logger) {}
    }

    // MARK: expiry

    /// Expires every active job past its window (all areas, or one); returns their ids.
    @discardableResult
    public func expireDue() async throws -> [String] {
        try await client.withConnection { connection in try await expire(on: connection, area: nil) }
    }

    @discardableResult
    private func expire(on connection: PostgresConnection, area: String?) async throws -> [String] {
        let rows = try await connection.query("SELECT door_expire_due(\(service), \(area))", logger: logger)
        var ids: [String] = []
        for try await id in rows.decode(UUID.self) { ids.append(id.uuidString.lowercased()) }
        if !ids.isEmpty { logger.info("door jobs expired", metadata: ["job.ids": "\(ids)"]) }
        return ids
    }

    /// Expires jobs for MQTT devices that are still pending `grace` after the deadline by which they had to reach
    /// the broker (the scheduler that made them stopped before publishing); with `jobID`, that one job at once
    /// (its publish failed). Never sent afterwards: the member's request had already run out.
    @discardableResult
    public func expireUndispatched(jobID: String? = nil, grace: Duration = .seconds(5)) async throws -> [String] {
        let id = jobID.flatMap(UUID.init(uuidString:))
        let rows = try await client.query(
            "SELECT door_expire_undispatched(\(service), \(id)::uuid, \(Int32(grace.components.seconds))::integer)", logger: logger
        )
        var ids: [String] = []
        for try await expired in rows.decode(UUID.self) { ids.append(expired.uuidString.lowercased()) }
        if !ids.isEmpty { logger.warning("door jobs expired before they were dispatched", metadata: ["job.ids": "\(ids)"]) }
        return ids
    }

    /// When the next active job runs out, so that the timer sleeps exactly until then.
    public func nextExpiry() async throws -> Date? {
        let rows = try await client.query("SELECT min(expires_at) FROM door_jobs WHERE status IN ('pending', 'dispatched')", logger: logger)
        for try await date in rows.decode(Date?.self) { return date }
        return nil
    }

    // MARK: confirm

    /// A device's confirm verified under a secret the caller already held: recorded in one statement if it is the
    /// usual case (an active job of this device with this nonce, within its window) and the secret is still valid.
    /// false: anything else, which `confirm` decides after a fresh look at the device's secrets.
    public func confirmUsual(jobID: String, deviceID: String, nonce: String, result: DoorConfirm.Result, code: String?, message: String?, via channel: String, proof: SecretProof) async throws -> Bool {
        guard let id = UUID(uuidString: jobID) else { return false }
        return try await recordUsual(id: id, deviceID: deviceID, nonce: nonce, result: result, code: Self.resultCode(code, result), message: message, channel: channel, proof: proof)
    }

    /// What a confirm without a code (the HTTP fallback) records as its result code.
    private static func resultCode(_ code: String?, _ result: DoorConfirm.Result) -> String {
        code ?? (result == .executed ? "OK" : "FAILED")
    }

    private func recordUsual(id: UUID, deviceID: String, nonce: String, result: DoorConfirm.Result, code: String, message: String?, channel: String, proof: SecretProof?) async throws -> Bool {
        let statement = DoorStatements.Confirm(
            jobID: id, deviceID: deviceID, nonce: nonce, result: result.rawValue, code: code,
            message: message ?? "", service: service, channel: channel, proof: proof
        )
        var recorded = false
        for try await _ in try await client.execute(statement, logger: logger) { recorded = true }
        return recorded
    }

    /// A device's confirm (over MQTT, already authenticated by its signature, or over HTTP by its secret).
    public func confirm(jobID: String, deviceID: String, nonce: String, result: DoorConfirm.Result, code: String?, message: String?, via channel: String) async throws -> ConfirmOutcome {
        guard let id = UUID(uuidString: jobID) else {
            return .refused(ErrorBody(DoorError.unknownJob.rawValue, message: "no job \(jobID)"))
        }
        let resultCode = Self.resultCode(code, result)
        if try await recordUsual(id: id, deviceID: deviceID, nonce: nonce, result: result, code: resultCode, message: message, channel: channel, proof: nil) {
            return .recorded(result.jobStatus)
        }
        // Anything else (a repeat, a mismatch, too late, unknown) is sorted out under the row lock.
        return try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT area, member, device_id, nonce, status, expires_at <= now() FROM door_jobs WHERE id = \(id) FOR UPDATE
                """,
                logger: logger
            )
            var found: (String, String, String?, String, String, Bool)?
            for try await row in rows.decode((String, String, String?, String, String, Bool).self) { found = row }
            guard let (area, member, assignedDevice, expectedNonce, statusText, pastWindow) = found, let status = DoorJobStatus(rawValue: statusText) else {
                return .refused(ErrorBody(DoorError.unknownJob.rawValue, message: "no job \(jobID)"))
            }
            var detail = AuditDetail(member: member, area: area, job: jobID, device: deviceID, outcome: result.rawValue)
            detail.channel = channel
            guard assignedDevice == deviceID else {
                detail.outcome = DoorError.deviceMismatch.rawValue
                try await audit(on: connection, actor: "device:\(deviceID)", type: "door.confirm_refused", subject: "door-job:\(jobID)", detail: detail)
                return .refused(ErrorBody(DoorError.deviceMismatch.rawValue, message: "the job was given to another device"))
            }
            guard ConstantTime.equals(expectedNonce, nonce) else {
                detail.outcome = DoorError.nonceMismatch.rawValue
                try await audit(on: connection, actor: "device:\(deviceID)", type: "door.confirm_refused", subject: "door-job:\(jobID)", detail: detail)
                return .refused(ErrorBody(DoorError.nonceMismatch.rawValue, message: "the nonce is not this job's"))
            }
            if status == .executed || status == .failed {
                if status == result.jobStatus { return .recorded(status) }
                return .refused(ErrorBody(DoorError.alreadyConfirmed.rawValue, message: "the job was already confirmed as \(status.rawValue)"))
            }
            if status == .expired || pastWindow {
                // Too late, but the door may have opened: the job keeps that fact.
                try await expire(on: connection, area: area)
                try await connection.query(
                    "UPDATE door_jobs SET late_confirm_at = coalesce(late_confirm_at, now()), late_confirm_result = coalesce(late_confirm_result, \(result.rawValue)) WHERE id = \(id)",
                    logger: logger
                )
                detail.outcome = "late_\(result.rawValue)"
                try await audit(on: connection, actor: "device:\(deviceID)", type: "door.confirm_late", subject: "door-job:\(jobID)", detail: detail)
                return .refused(ErrorBody(DoorError.confirmTimeout.rawValue, message: "the confirm window of this job has closed"))
            }
            try await connection.query(
                """
                UPDATE door_jobs SET status = \(result.rawValue), result_code = \(resultCode), result_message = \(message ?? ""),
                    executed_at = now(), dispatched_at = coalesce(dispatched_at, now())
                WHERE id = \(id)
                """,
                logger: logger
            )
            detail.code = resultCode
            try await audit(on: connection, actor: "device:\(deviceID)", type: "door.job_\(result.rawValue)", subject: "door-job:\(jobID)", detail: detail)
            return .recorded(result.jobStatus)
        }
    }

    // MARK: poll

    /// Records the poll (the device's HTTP presence, and the interval since its last poll) and hands over its
    /// pending jobs, which become dispatched: their confirm window starts now (seed 000 counts it from the pickup).
    public func poll(deviceID: String) async throws -> [DoorRPC.PollReply.Job] {
        let window = policy.confirmWindowSeconds
        return try await client.withTransaction(logger: logger) { connection in
            // An interval longer than two minutes is an outage, not the device's rhythm: it is not learnt.
            try await connection.query(
                """
                UPDATE devices SET poll_interval_s = CASE
                        WHEN last_poll_at IS NOT NULL AND now() - last_poll_at <= interval '120 seconds'
                        THEN greatest(1, ceil(extract(epoch FROM now() - last_poll_at)))::int ELSE poll_interval_s END,
                    last_poll_at = now()
                WHERE id = \(deviceID)
                """,
                logger: logger
            )
            let rows = try await connection.query(
                """
                UPDATE door_jobs SET status = 'dispatched', dispatched_at = coalesce(dispatched_at, now()),
                    expires_at = CASE WHEN status = 'pending'
                        THEN greatest(expires_at, to_timestamp(ceil(extract(epoch FROM now() + make_interval(secs => \(window))))))
                        ELSE expires_at END
                WHERE device_id = \(deviceID) AND status IN ('pending', 'dispatched') AND expires_at > now()
                RETURNING id, area, member, nonce, greatest(0, (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::int)
                """,
                logger: logger
            )
            var jobs: [DoorRPC.PollReply.Job] = []
            for try await (id, area, member, nonce, expiresInMs) in rows.decode((UUID, String, String, String, Int).self) {
                let jobID = id.uuidString.lowercased()
                jobs.append(.init(jobId: jobID, area: area, nonce: nonce, expiresInMs: expiresInMs))
                try await audit(on: connection, actor: "device:\(deviceID)", type: "door.job_dispatched", subject: "door-job:\(jobID)", detail: AuditDetail(member: member, area: area, job: jobID, device: deviceID, outcome: "dispatched", channel: "http-poll"))
            }
            return jobs
        }
    }

    // MARK: reading

    /// What a member may see of a job. `.sessionEnded` when the member is gone, disabled or presents an old
    /// session version; nil when there is no such job of theirs (an admin sees every job).
    public enum ViewOutcome: Sendable, Equatable {
        case job(DoorJobView)
        case notFound
        case sessionEnded
    }

    public func view(jobID: String, session: DoorRPC.Session) async throws -> ViewOutcome {
        let id = UUID(uuidString: jobID)
        let rows = try await client.query(
            """
            SELECT j.id, j.area, j.status, j.result_code, j.result_message, j.created_at, j.dispatched_at, j.executed_at,
                   j.expires_at, j.late_confirm_at
            FROM members m LEFT JOIN door_jobs j ON j.id = \(id) AND (m.is_admin OR j.member = m.username)
            WHERE m.username = \(session.member) AND m.disabled_at IS NULL AND m.session_version = \(session.sessionVersion)
            """,
            logger: logger
        )
        var outcome = ViewOutcome.sessionEnded
        for try await row in rows.decode((UUID?, String?, String?, String?, String?, Date?, Date?, Date?, Date?, Date?).self) {
            guard let jobID = row.0, let area = row.1, let status = row.2, let createdAt = row.5, let expiresAt = row.8 else {
                outcome = .notFound
                continue
            }
            outcome = .job(Self.view((jobID, area, status, row.3, row.4, createdAt, row.6, row.7, expiresAt, row.9)))
        }
        return outcome
    }

    /// The newest jobs first, for `leitstand jobs`.
    public func list(area: String?, status: DoorJobStatus?, limit: Int) async throws -> [(view: DoorJobView, member: String, device: String?)] {
        let rows = try await client.query(
            """
            SELECT id, area, status, result_code, result_message, created_at, dispatched_at, executed_at, expires_at, late_confirm_at, member, device_id
            FROM door_jobs WHERE (\(area)::text IS NULL OR area = \(area)) AND (\(status?.rawValue)::text IS NULL OR status = \(status?.rawValue))
            ORDER BY created_at DESC LIMIT \(limit)
            """,
            logger: logger
        )
        var jobs: [(view: DoorJobView, member: String, device: String?)] = []
        for try await row in rows.decode((UUID, String, String, String?, String?, Date, Date?, Date?, Date, Date?, String, String?).self) {
            jobs.append((Self.view((row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9)), row.10, row.11))
        }
        return jobs
    }

    private static func view(_ row: (UUID, String, String, String?, String?, Date, Date?, Date?, Date, Date?)) -> DoorJobView {
        DoorJobView(
            jobId: row.0.uuidString.lowercased(), area: row.1, status: DoorJobStatus(rawValue: row.2) ?? .pending,
            resultCode: row.3, resultMessage: row.4, createdAt: row.5, dispatchedAt: row.6, executedAt: row.7,
            expiresAt: row.8, lateConfirmAt: row.9
        )
    }

    // MARK: housekeeping

    /// Deletes finished jobs created before `age` ago; their audit entries stay. Returns how many went. With
    /// `dryRun` it only counts them (and writes no audit entry).
    public func housekeeping(olderThan age: Duration, actor: String, dryRun: Bool = false) async throws -> Int {
        let seconds = Double(age.components.seconds)
        if dryRun {
            let rows = try await client.query(
                """
                SELECT count(*)::int FROM door_jobs WHERE created_at < now() - make_interval(secs => \(seconds))
                AND status NOT IN ('pending', 'dispatched')
                """,
                logger: logger
            )
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
        return try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                WITH gone AS (
                    DELETE FROM door_jobs WHERE created_at < now() - make_interval(secs => \(seconds))
                    AND status NOT IN ('pending', 'dispatched') RETURNING 1
                ) SELECT count(*)::int FROM gone
                """,
                logger: logger
            )
            var deleted = 0
            for try await count in rows.decode(Int.self) { deleted = count }
            try await audit(on: connection, actor: actor, type: "door.housekeeping", subject: "door_jobs", detail: HousekeepingDetail(deleted: deleted, olderThanSeconds: Int(seconds)))
            return deleted
        }
    }

    private struct HousekeepingDetail: Encodable, Sendable {
        var deleted: Int
        var olderThanSeconds: Int
    }

    // MARK: audit

    struct AuditDetail: Encodable, Sendable {
        var member: String
        var area: String
        var job: String?
        var device: String?
        var outcome: String
        var channel: String?
        var code: String?
    }

    private func audit(on connection: PostgresConnection, actor: String, type: String, subject: String, detail: some Encodable & Sendable) async throws {
        try await AuditLog.append(on: connection, logger: logger, service: service, actor: actor, type: type, subject: subject, detail: detail)
    }
}
