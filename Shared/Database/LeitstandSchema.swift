/// The schema of Leitstand, in order. Append new migrations; never edit one that has shipped.
public enum LeitstandSchema {
    public static let migrations: [Migration] = [
        Migration(
            version: 1,
            name: "audit_log",
            statements: [
                """
                CREATE TABLE audit_log (
                    id bigserial PRIMARY KEY,
                    at timestamptz NOT NULL DEFAULT now(),
                    service text NOT NULL,
                    actor text NOT NULL,
                    type text NOT NULL,
                    subject text NOT NULL,
                    detail jsonb NOT NULL DEFAULT '{}'::jsonb
                )
                """,
                "CREATE INDEX audit_log_at ON audit_log (at)",
                "CREATE INDEX audit_log_subject ON audit_log (subject, at)",
            ]
        ),
        Migration(
            version: 2,
            name: "door_access",
            statements: [
                """
                CREATE TABLE areas (
                    name text PRIMARY KEY CHECK (name ~ '^[a-z0-9-]{1,64}$'),
                    created_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                """
                CREATE TABLE members (
                    username text PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9._@-]{1,128}$'),
                    password_hash text NOT NULL,
                    is_admin boolean NOT NULL DEFAULT false,
                    created_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                """
                CREATE TABLE member_areas (
                    username text NOT NULL REFERENCES members ON DELETE CASCADE,
                    area text NOT NULL REFERENCES areas,
                    PRIMARY KEY (username, area)
                )
                """,
                // Secrets are sealed (AES-GCM, key from LEITSTAND_SECRET_KEY): a dump of this table signs nothing.
                """
                CREATE TABLE devices (
                    id text PRIMARY KEY CHECK (id ~ '^[a-z0-9-]{1,64}$'),
                    secret_sealed bytea NOT NULL,
                    previous_secret_sealed bytea,
                    previous_valid_until timestamptz,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    rotated_at timestamptz,
                    last_poll_at timestamptz
                )
                """,
                """
                CREATE TABLE device_areas (
                    device_id text NOT NULL REFERENCES devices ON DELETE CASCADE,
                    area text NOT NULL REFERENCES areas,
                    PRIMARY KEY (device_id, area)
                )
                """,
                """
                CREATE TABLE door_jobs (
                    id uuid PRIMARY KEY,
                    area text NOT NULL REFERENCES areas,
                    member text NOT NULL,
                    device_id text,
                    nonce text NOT NULL,
                    pulse_ms integer NOT NULL,
                    status text NOT NULL CHECK (status IN ('pending', 'dispatched', 'executed', 'failed', 'expired')),
                    result_code text,
                    result_message text,
                    idempotency_key text,
                    created_at timestamptz NOT NULL,
                    dispatched_at timestamptz,
                    executed_at timestamptz,
                    expires_at timestamptz NOT NULL,
                    late_confirm_at timestamptz,
                    late_confirm_result text
                )
                """,
                // The database, not a replica's memory, keeps one active job per area.
                "CREATE UNIQUE INDEX door_jobs_one_active_per_area ON door_jobs (area) WHERE status IN ('pending', 'dispatched')",
                "CREATE UNIQUE INDEX door_jobs_idempotency ON door_jobs (member, idempotency_key) WHERE idempotency_key IS NOT NULL",
                "CREATE INDEX door_jobs_member_created ON door_jobs (member, area, created_at)",
                "CREATE INDEX door_jobs_created ON door_jobs (created_at)",
                "CREATE INDEX door_jobs_active_expiry ON door_jobs (expires_at) WHERE status IN ('pending', 'dispatched')",
                """
                CREATE TABLE login_failures (
                    key text PRIMARY KEY,
                    failures integer NOT NULL,
                    window_started_at timestamptz NOT NULL,
                    locked_until timestamptz
                )
                """,
            ]
        ),
        Migration(
            version: 3,
            name: "door_access_area_indexes",
            statements: [
                // Every open looks up the area's devices, and `area list` counts its members.
                "CREATE INDEX device_areas_area ON device_areas (area)",
                "CREATE INDEX member_areas_area ON member_areas (area)",
                // A polling device's jobs.
                "CREATE INDEX door_jobs_active_device ON door_jobs (device_id) WHERE status IN ('pending', 'dispatched')",
            ]
        ),
    ]
}
