import Database
import Foundation
import HummingbirdBcrypt
import Logging
import NIOPosix
import PostgresNIO

/// A member as the gateway's session knows them.
public struct Member: Sendable, Equatable {
    public var username: String
    public var isAdmin: Bool
    public var areas: [String]

    public init(username: String, isAdmin: Bool, areas: [String]) {
        self.username = username
        self.isAdmin = isAdmin
        self.areas = areas
    }
}

/// Members, their bcrypt-hashed passwords and areas, and the throttle on failed logins (in Postgres, so that
/// every gateway replica and every restart sees the same count).
public struct MemberDirectory: Sendable {
    public struct LoginThrottle: Sendable {
        /// Failures within `window` before a key is locked for `lockout`.
        public var maximumFailures: Int = 5
        public var window: Duration = .seconds(300)
        public var lockout: Duration = .seconds(300)
        public init() {}
    }

    public enum LoginOutcome: Sendable, Equatable {
        case member(Member)
        case invalidCredentials
        /// Too many failures for this username (or address): try again after this many seconds.
        case throttled(retryAfterSeconds: Int)
    }

    let client: PostgresClient
    let logger: Logger
    public var throttle = LoginThrottle()
    /// bcrypt's work factor for new hashes: about 60 ms per hash at 10 on this kind of machine.
    public var cost: UInt8 = 10

    /// A hash that costs as much to check as a real one, for unknown usernames, so that timing does not tell
    /// which usernames exist.
    private static let decoyHash = Bcrypt.hash("leitstand-decoy-password", cost: 10)

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Creates or replaces a member (password, role, areas); areas that do not exist yet are created.
    public func upsert(username: String, password: String, isAdmin: Bool, areas: [String]) async throws {
        let cost = self.cost
        let hash = try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                INSERT INTO members (username, password_hash, is_admin) VALUES (\(username), \(hash), \(isAdmin))
                ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, is_admin = EXCLUDED.is_admin
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
        let rows = try await client.query(
            """
            SELECT m.is_admin, coalesce(array_agg(a.area ORDER BY a.area) FILTER (WHERE a.area IS NOT NULL), '{}')
            FROM members m LEFT JOIN member_areas a ON a.username = m.username
            WHERE m.username = \(username) GROUP BY m.is_admin
            """,
            logger: logger
        )
        for try await (isAdmin, areas) in rows.decode((Bool, [String]).self) {
            return Member(username: username, isAdmin: isAdmin, areas: areas)
        }
        return nil
    }

    /// Checks a login. Every failure counts against `throttleKey` (the username); a locked key is refused before
    /// the password is even looked at, so guessing stops paying off.
    public func login(username: String, password: String, throttleKey: String) async throws -> LoginOutcome {
        if let retry = try await lockedFor(throttleKey) { return .throttled(retryAfterSeconds: retry) }
        var storedHash: String?
        let rows = try await client.query("SELECT password_hash FROM members WHERE username = \(username)", logger: logger)
        for try await hash in rows.decode(String.self) { storedHash = hash }
        let hash = storedHash ?? Self.decoyHash
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
        guard matches, storedHash != nil, let member = try await member(username) else {
            try await recordFailure(throttleKey)
            return .invalidCredentials
        }
        try await client.query("DELETE FROM login_failures WHERE key = \(throttleKey)", logger: logger)
        return .member(member)
    }

    private func lockedFor(_ key: String) async throws -> Int? {
        let rows = try await client.query(
            "SELECT ceil(extract(epoch FROM locked_until - now()))::int FROM login_failures WHERE key = \(key) AND locked_until > now()",
            logger: logger
        )
        for try await seconds in rows.decode(Int.self) { return max(seconds, 1) }
        return nil
    }

    private func recordFailure(_ key: String) async throws {
        let window = Int(throttle.window.components.seconds)
        let lockout = Int(throttle.lockout.components.seconds)
        try await client.query(
            """
            INSERT INTO login_failures AS f (key, failures, window_started_at) VALUES (\(key), 1, now())
            ON CONFLICT (key) DO UPDATE SET
                failures = CASE WHEN f.window_started_at < now() - make_interval(secs => \(window)) THEN 1 ELSE f.failures + 1 END,
                window_started_at = CASE WHEN f.window_started_at < now() - make_interval(secs => \(window)) THEN now() ELSE f.window_started_at END,
                locked_until = CASE
                    WHEN f.window_started_at >= now() - make_interval(secs => \(window)) AND f.failures + 1 >= \(throttle.maximumFailures)
                    THEN now() + make_interval(secs => \(lockout)) ELSE f.locked_until END
            """,
            logger: logger
        )
    }
}
