import Contracts
import Foundation
import PostgresNIO

/// The statements on the path every open and confirm takes, prepared once per connection so that Postgres parses
/// and plans them once rather than on every call.
enum DoorStatements {
    /// `door_open` (migration 5): the deadline, the member's session, locks, checks, device choice, the job and its
    /// audit entry in one round trip.
    struct Open: PostgresPreparedStatement {
        static let name = "leitstand_door_open_v2"
        static let sql = """
            SELECT outcome, retry_after_s, job_id, job_area, job_status, device_id, over_mqtt, secret_sealed,
                   previous_secret_sealed, job_expires_at, expires_in_ms
            FROM door_open($1::text, $2::bigint, $3::text, $4::text, $5::timestamptz, $6::text[], $7::integer, $8::integer,
                           $9::integer, $10::integer, $11::uuid, $12::text, $13::integer, $14::integer, $15::text)
            """
        typealias Row = (
            outcome: String, retryAfterSeconds: Int?, jobID: UUID?, area: String?, status: String?, deviceID: String?,
            overMQTT: Bool?, secret: Data?, previousSecret: Data?, expiresAt: Date?, expiresInMs: Int?
        )

        var session: DoorRPC.Session
        var area: String
        var idempotencyKey: String?
        var deadline: Date
        var onlineDevices: [String]
        var policy: DoorPolicy
        var jobID: UUID
        var nonce: String
        var service: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 15)
            bindings.append(session.member)
            bindings.append(session.sessionVersion)
            bindings.append(area)
            bindings.append(idempotencyKey)
            bindings.append(deadline)
            bindings.append(onlineDevices)
            bindings.append(policy.rateLimit)
            bindings.append(policy.rateWindowSeconds)
            bindings.append(policy.memberAreaLockSeconds)
            bindings.append(policy.pollPresenceSeconds)
            bindings.append(jobID)
            bindings.append(nonce)
            bindings.append(policy.pulseMs)
            bindings.append(policy.confirmWindowSeconds)
            bindings.append(service)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            let (outcome, retry, id, area, status, device, overMQTT, secret, previous, expiresAt, expiresInMs) =
                try row.decode((String, Int32?, UUID?, String?, String?, String?, Bool?, Data?, Data?, Date?, Int32?).self)
            return (outcome, retry.map(Int.init), id, area, status, device, overMQTT, secret, previous, expiresAt, expiresInMs.map(Int.init))
        }
    }

    /// The usual confirm: an active job of this device with this nonce, within its window, with its audit entry;
    /// with a proof, only while the secret that verified it is still valid. One row when it was recorded.
    struct Confirm: PostgresPreparedStatement {
        static let name = "leitstand_door_confirm_v1"
        static let sql = """
            WITH done AS (
                UPDATE door_jobs SET status = $4::text, result_code = $5::text, result_message = $6::text,
                    executed_at = now(), dispatched_at = coalesce(dispatched_at, now())
                WHERE id = $1::uuid AND device_id = $2::text AND nonce = $3::text
                    AND status IN ('pending', 'dispatched') AND expires_at > now()
                    AND ($9::bytea IS NULL OR EXISTS (
                        SELECT 1 FROM devices d WHERE d.id = $2::text AND CASE WHEN $10::boolean
                            THEN d.previous_secret_sealed = $9::bytea AND d.previous_valid_until > now()
                            ELSE d.secret_sealed = $9::bytea END))
                RETURNING area, member
            ), audited AS (
                INSERT INTO audit_log (service, actor, type, subject, detail)
                SELECT $7::text, 'device:' || $2::text, 'door.job_' || $4::text, 'door-job:' || $1::uuid,
                       jsonb_build_object('member', member, 'area', area, 'job', $1::uuid, 'device', $2::text,
                                          'outcome', $4::text, 'channel', $8::text, 'code', $5::text)
                FROM done
            )
            SELECT area FROM done
            """
        typealias Row = String

        var jobID: UUID
        var deviceID: String
        var nonce: String
        var result: String
        var code: String
        var message: String
        var service: String
        var channel: String
        var proof: SecretProof?

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 10)
            bindings.append(jobID)
            bindings.append(deviceID)
            bindings.append(nonce)
            bindings.append(result)
            bindings.append(code)
            bindings.append(message)
            bindings.append(service)
            bindings.append(channel)
            try bindings.append(proof?.sealed)
            bindings.append(proof?.isPrevious ?? false)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(String.self) }
    }

    /// Jobs that went out over MQTT, recorded as one batch: `pending` ones become `dispatched` (a confirm that came
    /// first is not undone), and every one gets its audit entry, since each was published.
    struct Dispatched: PostgresPreparedStatement {
        static let name = "leitstand_door_dispatched_v2"
        static let sql = """
            WITH dispatched AS (
                UPDATE door_jobs SET status = 'dispatched', dispatched_at = now()
                WHERE id = ANY($1::uuid[]) AND status = 'pending'
            )
            INSERT INTO audit_log (service, actor, type, subject, detail)
            SELECT $2::text, $2::text, 'door.job_dispatched', 'door-job:' || j.id,
                   jsonb_build_object('member', j.member, 'area', j.area, 'job', j.id, 'device', j.device_id, 'outcome', 'dispatched')
            FROM door_jobs j WHERE j.id = ANY($1::uuid[])
            """
        typealias Row = Void

        var jobIDs: [UUID]
        var service: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(jobIDs)
            bindings.append(service)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {}
    }

    /// A device's sealed secrets: the current one and the previous one while its grace lasts.
    struct Secrets: PostgresPreparedStatement {
        static let name = "leitstand_device_secrets_v1"
        static let sql = """
            SELECT secret_sealed, CASE WHEN previous_valid_until > now() THEN previous_secret_sealed END
            FROM devices WHERE id = $1::text
            """
        typealias Row = (Data, Data?)

        var deviceID: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(deviceID)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode((Data, Data?).self) }
    }
}
