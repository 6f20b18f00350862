import Contracts
import Database
import DoorCrypto
import Foundation
import Logging
import PostgresNIO
import ServiceKit

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

    /// Decides an open and, when it is allowed, commits the job. `onlineDevices` are the devices whose retained
    /// status says online right now.
    public func open(_ request: DoorRPC.OpenRequest, onlineDevices: Set<String>) async throws -> OpenOutcome {
        let policy = self.policy
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                SELECT pg_advisory_xact_lock(hashtext('door-member:' || \(request.member))),
                       pg_advisory_xact_lock(hashtext('door-area:' || \(request.area)))
                """,
                logger: logger
            )
            if let key = request.idempotencyKey {
                let rows = try await connection.query(
                    """
                    SELECT id, area, status, greatest(0, (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::int)
                    FROM door_jobs WHERE member = \(request.member) AND idempotency_key = \(key)
                    """,
                    logger: logger
                )
                for try await (id, area, status, expiresInMs) in rows.decode((UUID, String, String, Int).self) {
                    guard area == request.area else {
                        return .refused(ErrorBody(DoorError.idempotencyConflict.rawValue, message: "this Idempotency-Key was used for area \(area)"))
                    }
                    let accepted = DoorRPC.OpenAccepted(jobId: id.uuidString.lowercased(), status: DoorJobStatus(rawValue: status) ?? .pending, area: area, expiresInMs: expiresInMs)
                    return .repeated(accepted)
                }
            }
            let checks = try await connection.query(
                """
                SELECT
                    EXISTS (SELECT 1 FROM areas WHERE name = \(request.area)),
                    EXISTS (SELECT 1 FROM member_areas WHERE username = \(request.member) AND area = \(request.area)),
                    (SELECT CASE WHEN count(*) >= \(policy.rateLimit)
                        THEN ceil(extract(epoch FROM min(created_at) + make_interval(secs => \(policy.rateWindowSeconds)) - now()))::int END
                     FROM (SELECT created_at FROM door_jobs WHERE member = \(request.member)
                           AND created_at > now() - make_interval(secs => \(policy.rateWindowSeconds))
                           ORDER BY created_at DESC LIMIT \(policy.rateLimit)) recent),
                    (SELECT ceil(extract(epoch FROM max(created_at) + make_interval(secs => \(policy.memberAreaLockSeconds)) - now()))::int
                     FROM door_jobs WHERE member = \(request.member) AND area = \(request.area)
                     AND created_at > now() - make_interval(secs => \(policy.memberAreaLockSeconds))),
                    (SELECT ceil(extract(epoch FROM expires_at - now()))::int FROM door_jobs
                     WHERE area = \(request.area) AND status IN ('pending', 'dispatched') AND expires_at > now()),
                    EXISTS (SELECT 1 FROM door_jobs WHERE area = \(request.area) AND status IN ('pending', 'dispatched') AND expires_at <= now())
                """,
                logger: logger
            )
            var decided: ErrorBody?
            var overdue = false
            for try await (areaExists, allowed, rateRetry, lockRetry, activeRetry, activeOverdue) in checks.decode((Bool, Bool, Int?, Int?, Int?, Bool).self) {
                overdue = activeOverdue
                if !areaExists {
                    decided = ErrorBody(DoorError.unknownArea.rawValue, message: "no area is called \(request.area)")
                } else if !allowed && !request.isAdmin {
                    decided = ErrorBody(DoorError.areaForbidden.rawValue, message: "you may not open \(request.area)")
                } else if let rateRetry {
                    decided = ErrorBody(DoorError.rateLimited.rawValue, message: "too many opens; wait", retryAfterSeconds: max(rateRetry, 1))
                } else if let retry = [activeRetry, lockRetry].compactMap({ $0 }).max() {
                    decided = ErrorBody(DoorError.doorInUse.rawValue, message: "the door is in use; wait", retryAfterSeconds: max(retry, 1))
                }
            }
            if let decided {
                try await audit(on: connection, actor: request.member, type: "door.open_refused", subject: "area:\(request.area)", detail: AuditDetail(member: request.member, area: request.area, outcome: decided.error))
                return .refused(decided)
            }
            guard let device = try await pickDevice(on: connection, area: request.area, onlineDevices: onlineDevices) else {
                try await audit(on: connection, actor: request.member, type: "door.open_refused", subject: "area:\(request.area)", detail: AuditDetail(member: request.member, area: request.area, outcome: DoorError.doorOffline.rawValue))
                return .refused(ErrorBody(DoorError.doorOffline.rawValue, message: "no device of \(request.area) is online"))
            }
            // A job past its window that the timer has not reached yet must not block the area.
            if overdue { try await expire(on: connection, area: request.area) }
            let id = UUID()
            let jobID = id.uuidString.lowercased()
            let nonce = SecretSealer.newDeviceSecret().prefix(32)
            let detail = String(decoding: try JSONEncoder().encode(AuditDetail(member: request.member, area: request.area, job: jobID, device: device.id, outcome: "pending")), as: UTF8.self)
            // The job and its audit entry in one statement: one round trip on the path every open takes.
            let rows = try await connection.query(
                """
                WITH job AS (
                    INSERT INTO door_jobs (id, area, member, device_id, nonce, pulse_ms, status, idempotency_key, created_at, expires_at)
                    VALUES (\(id), \(request.area), \(request.member), \(device.id), \(String(nonce)), \(policy.pulseMs), 'pending',
                            \(request.idempotencyKey), now(), date_trunc('second', now() + make_interval(secs => \(policy.confirmWindowSeconds))))
                    RETURNING expires_at
                ), audited AS (
                    INSERT INTO audit_log (service, actor, type, subject, detail)
                    SELECT \(service), \(request.member), 'door.job_created', \("door-job:\(jobID)"), \(detail)::jsonb FROM job
                )
                SELECT expires_at, greatest(0, (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::int) FROM job
                """,
                logger: logger
            )
            var created: (Date, Int)?
            for try await row in rows.decode((Date, Int).self) { created = row }
            guard let (expiresAt, expiresInMs) = created else { throw DatabaseError.noRowReturned("INSERT INTO door_jobs") }
            let unsigned = DoorJob(jobId: jobID, area: request.area, deviceId: device.id, nonce: String(nonce), pulseMs: policy.pulseMs, expiresAt: expiresAt)
            var job = unsigned.signed(with: device.secrets.current)
            if let previous = device.secrets.previous { job.previousSig = unsigned.signed(with: previous).sig }
            let accepted = DoorRPC.OpenAccepted(jobId: jobID, status: .pending, area: request.area, expiresInMs: expiresInMs)
            return .created(accepted, Dispatch(job: job, overMQTT: device.overMQTT))
        }
    }

    private struct PickedDevice {
        var id: String
        var overMQTT: Bool
        var secrets: DeviceSecrets
    }

    /// The area's device that is online over MQTT (first by id), else one that polled recently.
    private func pickDevice(on connection: PostgresConnection, area: String, onlineDevices: Set<String>) async throws -> PickedDevice? {
        let rows = try await connection.query(
            """
            SELECT d.id, d.secret_sealed, CASE WHEN d.previous_valid_until > now() THEN d.previous_secret_sealed END,
                   coalesce(d.last_poll_at > now() - make_interval(secs => \(policy.pollPresenceSeconds)), false)
            FROM devices d JOIN device_areas a ON a.device_id = d.id WHERE a.area = \(area) ORDER BY d.id
            """,
            logger: logger
        )
        guard let devices else { preconditionFailure("a ledger made without devices cannot open doors") }
        var polling: PickedDevice?
        for try await (id, current, previous, polledRecently) in rows.decode((String, Data, Data?, Bool).self) {
            if onlineDevices.contains(id) {
                return PickedDevice(id: id, overMQTT: true, secrets: try devices.open(id: id, current: current, previous: previous))
            }
            if polledRecently && polling == nil {
                polling = PickedDevice(id: id, overMQTT: false, secrets: try devices.open(id: id, current: current, previous: previous))
            }
        }
        return polling
    }

    /// Records that a job went out over MQTT (one statement: the change and its audit entry commit together).
    public func markDispatched(_ job: DoorJob) async throws {
        try await client.query(
            """
            WITH dispatched AS (
                UPDATE door_jobs SET status = 'dispatched', dispatched_at = now()
                WHERE id = \(UUID(uuidString: job.jobId)) AND status = 'pending' RETURNING member
            )
            INSERT INTO audit_log (service, actor, type, subject, detail)
            SELECT \(service), \(service), 'door.job_dispatched', \("door-job:\(job.jobId)"),
                   jsonb_build_object('member', member, 'area', \(job.area), 'job', \(job.jobId), 'device', \(job.deviceId), 'outcome', 'dispatched')
            FROM dispatched
            """,
            logger: logger
        )
    }

    // MARK: expiry

    /// Expires every active job past its window (all areas, or one); returns their ids.
    @discardableResult
    public func expireDue() async throws -> [String] {
        try await client.withTransaction(logger: logger) { connection in try await expire(on: connection, area: nil) }
    }

    @discardableResult
    private func expire(on connection: PostgresConnection, area: String?) async throws -> [String] {
        let rows = try await connection.query(
            """
            WITH expired AS (
                UPDATE door_jobs SET status = 'expired', result_code = 'TIMEOUT', result_message = 'Confirm timeout'
                WHERE status IN ('pending', 'dispatched') AND expires_at <= now() AND (\(area)::text IS NULL OR area = \(area))
                RETURNING id, area, member, device_id
            ), audited AS (
                INSERT INTO audit_log (service, actor, type, subject, detail)
                SELECT \(service), \(service), 'door.job_expired', 'door-job:' || id,
                       jsonb_build_object('member', member, 'area', area, 'job', id, 'device', device_id, 'outcome', 'expired')
                FROM expired
            )
            SELECT id FROM expired
            """,
            logger: logger
        )
        var ids: [String] = []
        for try await id in rows.decode(UUID.self) { ids.append(id.uuidString.lowercased()) }
        if !ids.isEmpty { logger.info("door jobs expired", metadata: ["job.ids": "\(ids)"]) }
        return ids
    }

    /// When the next active job runs out, so that the timer sleeps exactly until then.
    public func nextExpiry() async throws -> Date? {
        let rows = try await client.query("SELECT min(expires_at) FROM door_jobs WHERE status IN ('pending', 'dispatched')", logger: logger)
        for try await date in rows.decode(Date?.self) { return date }
        return nil
    }

    // MARK: confirm

    /// A device's confirm (over MQTT, already authenticated by its signature, or over HTTP by its secret).
    public func confirm(jobID: String, deviceID: String, nonce: String, result: DoorConfirm.Result, code: String?, message: String?, via channel: String) async throws -> ConfirmOutcome {
        guard let id = UUID(uuidString: jobID) else {
            return .refused(ErrorBody(DoorError.unknownJob.rawValue, message: "no job \(jobID)"))
        }
        let resultCode = code ?? (result == .executed ? "OK" : "FAILED")
        // The usual case in one statement: an active job of this device with this nonce, within its window.
        let recorded = try await client.query(
            """
            WITH done AS (
                UPDATE door_jobs SET status = \(result.rawValue), result_code = \(resultCode), result_message = \(message ?? ""),
                    executed_at = now(), dispatched_at = coalesce(dispatched_at, now())
                WHERE id = \(id) AND device_id = \(deviceID) AND nonce = \(nonce)
                    AND status IN ('pending', 'dispatched') AND expires_at > now()
                RETURNING area, member
            ), audited AS (
                INSERT INTO audit_log (service, actor, type, subject, detail)
                SELECT \(service), \("device:\(deviceID)"), \("door.job_\(result.rawValue)"), \("door-job:\(jobID)"),
                       jsonb_build_object('member', member, 'area', area, 'job', \(jobID), 'device', \(deviceID),
                                          'outcome', \(result.rawValue), 'channel', \(channel), 'code', \(resultCode))
                FROM done
            )
            SELECT count(*)::int FROM done
            """,
            logger: logger
        )
        for try await count in recorded.decode(Int.self) where count == 1 {
            return .recorded(result == .executed ? .executed : .failed)
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
                if status.rawValue == result.rawValue { return .recorded(status) }
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
            return .recorded(result == .executed ? .executed : .failed)
        }
    }

    // MARK: poll

    /// Records the poll (the device's HTTP presence) and hands over its pending jobs, which become dispatched.
    public func poll(deviceID: String) async throws -> [DoorRPC.PollReply.Job] {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("UPDATE devices SET last_poll_at = now() WHERE id = \(deviceID)", logger: logger)
            let rows = try await connection.query(
                """
                UPDATE door_jobs SET status = 'dispatched', dispatched_at = now()
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

    public func view(jobID: String, member: String, isAdmin: Bool) async throws -> DoorJobView? {
        guard let id = UUID(uuidString: jobID) else { return nil }
        let rows = try await client.query(
            """
            SELECT id, area, status, result_code, result_message, created_at, dispatched_at, executed_at, expires_at, late_confirm_at
            FROM door_jobs WHERE id = \(id) AND (member = \(member) OR \(isAdmin))
            """,
            logger: logger
        )
        for try await row in rows.decode((UUID, String, String, String?, String?, Date, Date?, Date?, Date, Date?).self) {
            return Self.view(row)
        }
        return nil
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

    /// Deletes finished jobs created before `age` ago; their audit entries stay. Returns how many went.
    public func housekeeping(olderThan age: Duration, actor: String) async throws -> Int {
        let seconds = Double(age.components.seconds)
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
