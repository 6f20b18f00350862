import Database
import Foundation
import HummingbirdBcrypt
import Logging
import MQTT
import NIOPosix
import PostgresNIO

/// A member as the directory knows them now.
public struct Member: Sendable, Equatable {
    public var username: String
    public var isAdmin: Bool
    public var areas: [String]
    /// Sessions name the version they were issued under; `logout-all` and `disable` move it on.
    public var sessionVersion: Int
    public var isDisabled: Bool

    public init(username: String, isAdmin: Bool, areas: [String], sessionVersion: Int = 0, isDisabled: Bool = false) {
        self.username = username
        self.isAdmin = isAdmin
        self.areas = areas
        self.sessionVersion = sessionVersion
        self.isDisabled = isDisabled
    }
}

/// Members, their bcrypt-hashed passwords and areas, their session versions, and the throttle on failed logins
/// (in Postgres, so that every gateway replica and every restart sees the same count).
public struct MemberDirectory: Sendable {
    /// Failed logins are counted per username and client address (a guesser cannot lock the real member out from
    /// elsewhere) and per client address (one client cannot try many usernames, so one address adds at most
    /// ``maximumFailuresPerAddress`` rows per window, and rows go when their window is over). Unknown usernames are
    /// counted like real ones, so that the answers do not tell which usernames exist.
    public struct LoginThrottle: Sendable {
        /// Failures of one username from one address within `window` before that pair is locked for `lockout`.
        public var maximumFailures: Int = 5
        /// Failures from one address (any usernames) within `window` before the address is locked.
        public var maximumFailuresPerAddress: Int = 20
        public var window: Duration = .seconds(300)
        public var lockout: Duration = .seconds(300)
        public init() {}
    }

    public enum LoginOutcome: Sendable, Equatable {
        case member(Member)
        case invalidCredentials
        /// Too many failures for this username from this address, or from this address: try again after this long.
        case throttled(retryAfterSeconds: Int)
    }

    let client: PostgresClient
    let logger: Logger
    public var throttle = LoginThrottle()
    /// bcrypt's work factor for new hashes: about 60 ms per hash at 10 on this kind of machine.
    public var cost: UInt8 = 10
    /// Each database call of a login gets this long (`LEITSTAND_DATABASE_TIMEOUT_MS`): a database that does not
    /// answer makes the login fail fast (503) instead of hanging. bcrypt's time is not part of it.
    public var databaseTimeout: Duration = .seconds(2)

    /// A hash that costs as much to check as a real one, for unknown usernames, so that timing does not tell
    /// which usernames exist.
    private static let decoyHash = Bcrypt.hash("leitstand-decoy-password", cost: 10)

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Creates or replaces a member (password, role, areas); areas that do not exist yet are created. Replacing ends
    /// the member's sessions (a new password must lock out whoever knew the old one). A member who was disabled
    /// stays disabled.
    public func upsert(username: String, password: String, isAdmin: Bool, areas: [String]) async throws {
        let cost = self.cost
        let hash = try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                INSERT INTO members (username, password_hash, is_admin) VALUES (\(username), \(hash), \(isAdmin))
                ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, is_admin = EXCLUDED.is_admin,
                    session_version = nextval('member_session_versions')
                """,
                logger: logger
            )
            try await connection.query("DELETE FROM member_areas WHERE username = \(username)", logger: logger)
            for area in areas {
                try await connection.query("INSERT INTO areas (name) VALUES (\(area)) ON CONFLICT DO NOTHING", logger: logger)
                try await connection.query("INSERT INTO member_areas (username, area) VALUES (\(username), \(area))", logger: logger)
            }
        }
    }

    public func member(_ username: String) async throws -> Member? {
        try await members(only: username).first
    }

    /// Every member (or one), by username.
    public func members(only username: String? = nil) async throws -> [Member] {
        let rows = try await client.query(
            """
            SELECT m.username, m.is_admin, coalesce(array_agg(a.area ORDER BY a.area) FILTER (WHERE a.area IS NOT NULL), '{}'),
                   m.session_version, m.disabled_at IS NOT NULL
            FROM members m LEFT JOIN member_areas a ON a.username = m.username
            WHERE \(username)::text IS NULL OR m.username = \(username)
            GROUP BY m.username ORDER BY m.username
            """,
            logger: logger
        )
        var members: [Member] = []
        for try await (name, isAdmin, areas, version, disabled) in rows.decode((String, Bool, [String], Int, Bool).self) {
            members.append(Member(username: name, isAdmin: isAdmin, areas: areas, sessionVersion: version, isDisabled: disabled))
        }
        return members
    }

    /// Removes the member (areas and sessions with them; their jobs and audit entries stay). false: no such member.
    public func remove(_ username: String) async throws -> Bool {
        try await changed("DELETE FROM members WHERE username = \(username) RETURNING username")
    }

    /// Disables (or enables) the member; disabling ends every session at once. false: no such member.
    public func setDisabled(_ username: String, _ disabled: Bool) async throws -> Bool {
        if disabled {
            return try await changed(
                """
                UPDATE members SET disabled_at = coalesce(disabled_at, now()), session_version = nextval('member_session_versions')
                WHERE username = \(username) RETURNING username
                """
            )
        }
        return try await changed("UPDATE members SET disabled_at = NULL WHERE username = \(username) RETURNING username")
    }

    /// Ends every session the member has (their tokens are refused from the next request on). false: no such member.
    public func endSessions(_ username: String) async throws -> Bool {
        try await changed("UPDATE members SET session_version = nextval('member_session_versions') WHERE username = \(username) RETURNING username")
    }

    private func changed(_ query: PostgresQuery) async throws -> Bool {
        for try await _ in try await client.query(query, logger: logger).decode(String.self) { return true }
        return false
    }

    /// Checks a login from `address` (the client's address as the gateway determined it). A locked username+address
    /// pair or a locked address is refused before the password is even looked at, so guessing stops paying off.
    public func login(username: String, password: String, address: String) async throws -> LoginOutcome {
        let pairKey = "user:\(username.lowercased())@\(address)"
        let addressKey = "addr:\(address)"
        if let retry = try await bounded({ try await lockedFor([pairKey, addressKey]) }) { return .throttled(retryAfterSeconds: retry) }
        let stored = try await bounded { () async throws -> (hash: String, disabled: Bool)? in
            let rows = try await client.query("SELECT password_hash, disabled_at IS NOT NULL FROM members WHERE username = \(username)", logger: logger)
            for try await (hash, disabled) in rows.decode((String, Bool).self) { return (hash, disabled) }
            return nil
        }
        let hash = stored?.hash ?? Self.decoyHash
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
        guard matches, let stored, !stored.disabled, let member = try await bounded({ try await member(username) }) else {
            // Unknown usernames count as known ones do: a lock that only real usernames reach would tell which
            // exist. Their rows are bounded by the per-address limit and deleted once their window is over.
            try await bounded { try await recordFailure([pairKey, addressKey]) }
            return .invalidCredentials
        }
        _ = try await bounded { try await client.query("DELETE FROM login_failures WHERE key = \(pairKey)", logger: logger) }
        return member.isDisabled ? .invalidCredentials : .member(member)
    }

    /// One database call, given ``databaseTimeout``.
    private func bounded<Value: Sendable>(_ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
        try await withTimeout(databaseTimeout, operation: "login database call", body)
    }

    private func lockedFor(_ keys: [String]) async throws -> Int? {
        let rows = try await client.query(
            """
            SELECT max(ceil(extract(epoch FROM locked_until - now())))::int FROM login_failures
            WHERE key = ANY(\(keys)) AND locked_until > now()
            """,
            logger: logger
        )
        for try await seconds in rows.decode(Int?.self) { return seconds.map { max($0, 1) } }
        return nil
    }

    private func recordFailure(_ keys: [String]) async throws {
        let window = Int(throttle.window.components.seconds)
        let lockout = Int(throttle.lockout.components.seconds)
        for key in keys {
            let limit = key.hasPrefix("addr:") ? throttle.maximumFailuresPerAddress : throttle.maximumFailures
            try await client.query(
                """
                INSERT INTO login_failures AS f (key, failures, window_started_at) VALUES (\(key), 1, now())
                ON CONFLICT (key) DO UPDATE SET
                    failures = CASE WHEN f.window_started_at < now() - make_interval(secs => \(window)) THEN 1 ELSE f.failures + 1 END,
                    window_started_at = CASE WHEN f.window_started_at < now() - make_interval(secs => \(window)) THEN now() ELSE f.window_started_at END,
                    locked_until = CASE
                        WHEN f.window_started_at >= now() - make_interval(secs => \(window)) AND f.failures + 1 >= \(limit)
                        THEN now() + make_interval(secs => \(lockout)) ELSE f.locked_until END
                """,
                logger: logger
            )
        }
        // Counts whose window and lockout are over say nothing any more: the table holds only live ones.
        try await client.query(
            """
            DELETE FROM login_failures WHERE window_started_at < now() - make_interval(secs => \(window))
            AND (locked_until IS NULL OR locked_until < now())
            """,
            logger: logger
        )
    }
}
