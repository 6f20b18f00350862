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
        Migration(
            version: 4,
            name: "door_open_in_one_round_trip",
            statements: [
                // Expires the active jobs past their window (all areas when p_area is NULL), each with its audit entry.
                """
                CREATE FUNCTION door_expire_due(p_service text, p_area text) RETURNS SETOF uuid
                LANGUAGE sql AS $$
                    WITH expired AS (
                        UPDATE door_jobs SET status = 'expired', result_code = 'TIMEOUT', result_message = 'Confirm timeout'
                        WHERE status IN ('pending', 'dispatched') AND expires_at <= now() AND (p_area IS NULL OR area = p_area)
                        RETURNING id, area, member, device_id
                    ), audited AS (
                        INSERT INTO audit_log (service, actor, type, subject, detail)
                        SELECT p_service, p_service, 'door.job_expired', 'door-job:' || id,
                               jsonb_build_object('member', member, 'area', area, 'job', id, 'device', device_id, 'outcome', 'expired')
                        FROM expired
                    )
                    SELECT id FROM expired
                $$
                """,
                // An open decided and committed in one round trip. Each statement inside sees what committed before
                // it, so the checks after the advisory locks see every job another replica made under them.
                // outcome: created, repeated, idempotency_conflict, or the refusal's DoorError code.
                """
                CREATE FUNCTION door_open(
                    p_member text, p_area text, p_idempotency_key text, p_is_admin boolean, p_online_devices text[],
                    p_rate_limit integer, p_rate_window_s integer, p_member_area_lock_s integer, p_poll_presence_s integer,
                    p_job_id uuid, p_nonce text, p_pulse_ms integer, p_window_s integer, p_service text
                ) RETURNS TABLE (
                    outcome text, retry_after_s integer, job_id uuid, job_area text, job_status text, device_id text,
                    over_mqtt boolean, secret_sealed bytea, previous_secret_sealed bytea, job_expires_at timestamptz,
                    expires_in_ms integer
                ) LANGUAGE plpgsql
                -- Its statements are simple index lookups: plan them once per connection, not on every call.
                SET plan_cache_mode = force_generic_plan
                AS $$
                #variable_conflict use_column
                DECLARE
                    earlier record;
                    picked record;
                    refusal text;
                    retry integer;
                    lock_retry integer;
                    active_retry integer;
                    expiry timestamptz;
                BEGIN
                    PERFORM pg_advisory_xact_lock(hashtext('door-member:' || p_member)),
                            pg_advisory_xact_lock(hashtext('door-area:' || p_area));
                    IF p_idempotency_key IS NOT NULL THEN
                        SELECT j.id, j.area, j.status, j.expires_at INTO earlier
                        FROM door_jobs j WHERE j.member = p_member AND j.idempotency_key = p_idempotency_key;
                        IF FOUND THEN
                            RETURN QUERY SELECT
                                CASE WHEN earlier.area = p_area THEN 'repeated' ELSE 'idempotency_conflict' END,
                                NULL::integer, earlier.id, earlier.area, earlier.status, NULL::text, NULL::boolean,
                                NULL::bytea, NULL::bytea, earlier.expires_at,
                                greatest(0, (extract(epoch FROM earlier.expires_at - clock_timestamp()) * 1000)::int);
                            RETURN;
                        END IF;
                    END IF;

                    IF NOT EXISTS (SELECT 1 FROM areas a WHERE a.name = p_area) THEN
                        refusal := 'unknown_area';
                    ELSIF NOT p_is_admin AND NOT EXISTS (SELECT 1 FROM member_areas m WHERE m.username = p_member AND m.area = p_area) THEN
                        refusal := 'area_forbidden';
                    ELSE
                        SELECT CASE WHEN count(*) >= p_rate_limit
                            THEN ceil(extract(epoch FROM min(recent.created_at) + make_interval(secs => p_rate_window_s) - now()))::int END
                        INTO retry
                        FROM (SELECT j.created_at FROM door_jobs j
                              WHERE j.member = p_member AND j.created_at > now() - make_interval(secs => p_rate_window_s)
                              ORDER BY j.created_at DESC LIMIT p_rate_limit) recent;
                        IF retry IS NOT NULL THEN
                            refusal := 'rate_limited';
                        ELSE
                            SELECT ceil(extract(epoch FROM max(j.created_at) + make_interval(secs => p_member_area_lock_s) - now()))::int
                            INTO lock_retry
                            FROM door_jobs j WHERE j.member = p_member AND j.area = p_area
                                AND j.created_at > now() - make_interval(secs => p_member_area_lock_s);
                            SELECT ceil(extract(epoch FROM j.expires_at - now()))::int INTO active_retry
                            FROM door_jobs j WHERE j.area = p_area AND j.status IN ('pending', 'dispatched') AND j.expires_at > now();
                            retry := greatest(lock_retry, active_retry);
                            IF retry IS NOT NULL THEN
                                refusal := 'door_in_use';
                            END IF;
                        END IF;
                    END IF;

                    IF refusal IS NULL THEN
                        -- Online over MQTT first (by id), else a device that polled recently.
                        SELECT d.id, d.id = ANY(p_online_devices) AS online, d.secret_sealed,
                               CASE WHEN d.previous_valid_until > now() THEN d.previous_secret_sealed END AS previous
                        INTO picked
                        FROM devices d JOIN device_areas da ON da.device_id = d.id
                        WHERE da.area = p_area
                            AND (d.id = ANY(p_online_devices) OR d.last_poll_at > now() - make_interval(secs => p_poll_presence_s))
                        ORDER BY d.id = ANY(p_online_devices) DESC, d.id
                        LIMIT 1;
                        IF NOT FOUND THEN
                            refusal := 'door_offline';
                        END IF;
                    END IF;

                    IF refusal IS NOT NULL THEN
                        INSERT INTO audit_log (service, actor, type, subject, detail)
                        VALUES (p_service, p_member, 'door.open_refused', 'area:' || p_area,
                                jsonb_build_object('member', p_member, 'area', p_area, 'outcome', refusal));
                        RETURN QUERY SELECT refusal, retry, NULL::uuid, p_area, NULL::text, NULL::text, NULL::boolean,
                            NULL::bytea, NULL::bytea, NULL::timestamptz, NULL::integer;
                        RETURN;
                    END IF;

                    -- A job past its window that the timer has not reached yet must not block the area.
                    IF EXISTS (SELECT 1 FROM door_jobs j WHERE j.area = p_area AND j.status IN ('pending', 'dispatched') AND j.expires_at <= now()) THEN
                        PERFORM door_expire_due(p_service, p_area);
                    END IF;
                    INSERT INTO door_jobs (id, area, member, device_id, nonce, pulse_ms, status, idempotency_key, created_at, expires_at)
                    VALUES (p_job_id, p_area, p_member, picked.id, p_nonce, p_pulse_ms, 'pending', p_idempotency_key, now(),
                            date_trunc('second', now() + make_interval(secs => p_window_s)))
                    RETURNING expires_at INTO expiry;
                    INSERT INTO audit_log (service, actor, type, subject, detail)
                    VALUES (p_service, p_member, 'door.job_created', 'door-job:' || p_job_id,
                            jsonb_build_object('member', p_member, 'area', p_area, 'job', p_job_id, 'device', picked.id, 'outcome', 'pending'));
                    RETURN QUERY SELECT 'created'::text, NULL::integer, p_job_id, p_area, 'pending'::text, picked.id::text, picked.online,
                        picked.secret_sealed, picked.previous, expiry,
                        greatest(0, (extract(epoch FROM expiry - clock_timestamp()) * 1000)::int);
                END
                $$
                """,
            ]
        ),
            Migration(
            version: 5,
            name: "door_safety",
            statements: [
                // Rights are checked when used: a session names its member and the session version it was issued
                // under; a new password, `member logout-all` and `disable` move the version on, and every request
                // checks it. Versions come from one sequence, so a member removed and added again under the same
                // name never meets a token of their earlier self.
                "CREATE SEQUENCE member_session_versions",
                """
                ALTER TABLE members ADD COLUMN session_version bigint NOT NULL DEFAULT nextval('member_session_versions'),
                    ADD COLUMN disabled_at timestamptz
                """,
                // A polling device's observed interval between polls: its presence lasts about two of them.
                "ALTER TABLE devices ADD COLUMN poll_interval_s integer",
                // A job for a device online over MQTT must reach the broker before the member's request runs out;
                // one still pending past this (the scheduler died between commit and publish) is expired, never sent.
                "ALTER TABLE door_jobs ADD COLUMN dispatch_by timestamptz",
                "CREATE INDEX door_jobs_undispatched ON door_jobs (dispatch_by) WHERE status = 'pending' AND dispatch_by IS NOT NULL",
                // Audit entries relayed over MQTT carry an id, so that a redelivery is one entry.
                "ALTER TABLE audit_log ADD COLUMN event_id uuid",
                "CREATE UNIQUE INDEX audit_log_event_id ON audit_log (event_id) WHERE event_id IS NOT NULL",
                // Stale throttle rows are deleted by age.
                "CREATE INDEX login_failures_window ON login_failures (window_started_at)",
                """
                CREATE FUNCTION door_audit(p_service text, p_actor text, p_type text, p_subject text, p_detail jsonb) RETURNS void
                LANGUAGE sql AS $$
                    INSERT INTO audit_log (service, actor, type, subject, detail) VALUES (p_service, p_actor, p_type, p_subject, p_detail)
                $$
                """,
                // Pending jobs of MQTT devices whose dispatch deadline passed `p_grace_s` ago (or the one pending job
                // `p_job`, whose answer or publish did not get through in time, also one for a polling device):
                // expired with NOT_DISPATCHED, each with its audit entry. A confirm that still comes is kept as a
                // late confirm, like any confirm of an expired job.
                """
                CREATE FUNCTION door_expire_undispatched(p_service text, p_job uuid, p_grace_s integer) RETURNS SETOF uuid
                LANGUAGE sql AS $$
                    WITH expired AS (
                        UPDATE door_jobs SET status = 'expired', result_code = 'NOT_DISPATCHED',
                            result_message = 'The job did not reach the broker before the member''s request ran out'
                        WHERE status = 'pending' AND CASE WHEN p_job IS NULL
                            THEN dispatch_by IS NOT NULL AND dispatch_by <= now() - make_interval(secs => p_grace_s)
                            ELSE id = p_job END
                        RETURNING id, area, member, device_id
                    ), audited AS (
                        INSERT INTO audit_log (service, actor, type, subject, detail)
                        SELECT p_service, p_service, 'door.job_not_dispatched', 'door-job:' || id,
                               jsonb_build_object('member', member, 'area', area, 'job', id, 'device', device_id, 'outcome', 'not_dispatched')
                        FROM expired
                    )
                    SELECT id FROM expired
                $$
                """,
                "DROP FUNCTION door_open(text, text, text, boolean, text[], integer, integer, integer, integer, uuid, text, integer, integer, text)",
                // As in migration 4, and: nothing is decided after the asker's deadline (`late`); the member must
                // exist, be enabled and present the current session version (`unauthorized`), and whether they are
                // an admin is read here; a polling device stays present for about two of its poll intervals; the
                // window is rounded up to whole seconds (the signed `expiresAt`), never down.
                """
                CREATE FUNCTION door_open(
                    p_member text, p_session_version bigint, p_area text, p_idempotency_key text, p_deadline timestamptz,
                    p_online_devices text[], p_rate_limit integer, p_rate_window_s integer, p_member_area_lock_s integer,
                    p_poll_presence_s integer, p_job_id uuid, p_nonce text, p_pulse_ms integer, p_window_s integer, p_service text
                ) RETURNS TABLE (
                    outcome text, retry_after_s integer, job_id uuid, job_area text, job_status text, device_id text,
                    over_mqtt boolean, secret_sealed bytea, previous_secret_sealed bytea, job_expires_at timestamptz,
                    expires_in_ms integer
                ) LANGUAGE plpgsql
                SET plan_cache_mode = force_generic_plan
                AS $$
                #variable_conflict use_column
                DECLARE
                    earlier record;
                    picked record;
                    admin boolean;
                    refusal text;
                    retry integer;
                    lock_retry integer;
                    active_retry integer;
                    expiry timestamptz;
                BEGIN
                    PERFORM pg_advisory_xact_lock(hashtext('door-member:' || p_member)),
                            pg_advisory_xact_lock(hashtext('door-area:' || p_area));
                    IF clock_timestamp() >= p_deadline THEN
                        RETURN QUERY SELECT 'late'::text, NULL::integer, NULL::uuid, p_area, NULL::text, NULL::text, NULL::boolean,
                            NULL::bytea, NULL::bytea, NULL::timestamptz, NULL::integer;
                        RETURN;
                    END IF;
                    SELECT m.is_admin INTO admin FROM members m
                    WHERE m.username = p_member AND m.disabled_at IS NULL AND m.session_version = p_session_version;
                    IF NOT FOUND THEN
                        PERFORM door_audit(p_service, p_member, 'door.open_refused', 'area:' || p_area,
                            jsonb_build_object('member', p_member, 'area', p_area, 'outcome', 'unauthorized'));
                        RETURN QUERY SELECT 'unauthorized'::text, NULL::integer, NULL::uuid, p_area, NULL::text, NULL::text, NULL::boolean,
                            NULL::bytea, NULL::bytea, NULL::timestamptz, NULL::integer;
                        RETURN;
                    END IF;
                    IF p_idempotency_key IS NOT NULL THEN
                        SELECT j.id, j.area, j.status, j.expires_at INTO earlier
                        FROM door_jobs j WHERE j.member = p_member AND j.idempotency_key = p_idempotency_key;
                        IF FOUND THEN
                            RETURN QUERY SELECT
                                CASE WHEN earlier.area = p_area THEN 'repeated' ELSE 'idempotency_conflict' END,
                                NULL::integer, earlier.id, earlier.area, earlier.status, NULL::text, NULL::boolean,
                                NULL::bytea, NULL::bytea, earlier.expires_at,
                                greatest(0, (extract(epoch FROM earlier.expires_at - clock_timestamp()) * 1000)::int);
                            RETURN;
                        END IF;
                    END IF;

                    IF NOT EXISTS (SELECT 1 FROM areas a WHERE a.name = p_area) THEN
                        refusal := 'unknown_area';
                    ELSIF NOT admin AND NOT EXISTS (SELECT 1 FROM member_areas m WHERE m.username = p_member AND m.area = p_area) THEN
                        refusal := 'area_forbidden';
                    ELSE
                        SELECT CASE WHEN count(*) >= p_rate_limit
                            THEN ceil(extract(epoch FROM min(recent.created_at) + make_interval(secs => p_rate_window_s) - now()))::int END
                        INTO retry
                        FROM (SELECT j.created_at FROM door_jobs j
                              WHERE j.member = p_member AND j.created_at > now() - make_interval(secs => p_rate_window_s)
                              ORDER BY j.created_at DESC LIMIT p_rate_limit) recent;
                        IF retry IS NOT NULL THEN
                            refusal := 'rate_limited';
                        ELSE
                            SELECT ceil(extract(epoch FROM max(j.created_at) + make_interval(secs => p_member_area_lock_s) - now()))::int
                            INTO lock_retry
                            FROM door_jobs j WHERE j.member = p_member AND j.area = p_area
                                AND j.created_at > now() - make_interval(secs => p_member_area_lock_s);
                            SELECT ceil(extract(epoch FROM j.expires_at - now()))::int INTO active_retry
                            FROM door_jobs j WHERE j.area = p_area AND j.status IN ('pending', 'dispatched') AND j.expires_at > now();
                            retry := greatest(lock_retry, active_retry);
                            IF retry IS NOT NULL THEN
                                refusal := 'door_in_use';
                            END IF;
                        END IF;
                    END IF;

                    IF refusal IS NULL THEN
                        SELECT d.id, d.id = ANY(p_online_devices) AS online, d.secret_sealed,
                               CASE WHEN d.previous_valid_until > now() THEN d.previous_secret_sealed END AS previous
                        INTO picked
                        FROM devices d JOIN device_areas da ON da.device_id = d.id
                        WHERE da.area = p_area
                            AND (d.id = ANY(p_online_devices) OR d.last_poll_at > now() - make_interval(
                                secs => greatest(p_poll_presence_s, 2 * coalesce(d.poll_interval_s, 0) + 1)))
                        ORDER BY d.id = ANY(p_online_devices) DESC, d.id
                        LIMIT 1;
                        IF NOT FOUND THEN
                            refusal := 'door_offline';
                        END IF;
                    END IF;

                    IF refusal IS NOT NULL THEN
                        PERFORM door_audit(p_service, p_member, 'door.open_refused', 'area:' || p_area,
                            jsonb_build_object('member', p_member, 'area', p_area, 'outcome', refusal));
                        RETURN QUERY SELECT refusal, retry, NULL::uuid, p_area, NULL::text, NULL::text, NULL::boolean,
                            NULL::bytea, NULL::bytea, NULL::timestamptz, NULL::integer;
                        RETURN;
                    END IF;

                    IF EXISTS (SELECT 1 FROM door_jobs j WHERE j.area = p_area AND j.status IN ('pending', 'dispatched') AND j.expires_at <= now()) THEN
                        PERFORM door_expire_due(p_service, p_area);
                    END IF;
                    INSERT INTO door_jobs (id, area, member, device_id, nonce, pulse_ms, status, idempotency_key, created_at, expires_at, dispatch_by)
                    VALUES (p_job_id, p_area, p_member, picked.id, p_nonce, p_pulse_ms, 'pending', p_idempotency_key, now(),
                            to_timestamp(ceil(extract(epoch FROM now() + make_interval(secs => p_window_s)))),
                            CASE WHEN picked.online THEN p_deadline END)
                    RETURNING expires_at INTO expiry;
                    PERFORM door_audit(p_service, p_member, 'door.job_created', 'door-job:' || p_job_id,
                        jsonb_build_object('member', p_member, 'area', p_area, 'job', p_job_id, 'device', picked.id, 'outcome', 'pending'));
                    RETURN QUERY SELECT 'created'::text, NULL::integer, p_job_id, p_area, 'pending'::text, picked.id::text, picked.online,
                        picked.secret_sealed, picked.previous, expiry,
                        greatest(0, (extract(epoch FROM expiry - clock_timestamp()) * 1000)::int);
                END
                $$
                """,
            ]
        ),
    ]
}
