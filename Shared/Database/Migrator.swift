import Logging
import PostgresNIO

/// Applies ordered migrations. All pending migrations run in one transaction: either the schema reaches the
/// newest version or nothing changes. A transaction-scoped advisory lock makes concurrent starts of several
/// services (or replicas) wait for each other instead of racing.
public struct Migrator: Sendable {
    public let migrations: [Migration]

    /// The lock id: any constant shared by every Leitstand process ("leitstnd" in ASCII).
    static let advisoryLockID: Int64 = 0x6c65_6974_7374_6e64

    public init(migrations: [Migration] = LeitstandSchema.migrations) {
        precondition(
            zip(migrations, migrations.dropFirst()).allSatisfy { $0.version < $1.version },
            "migrations must be in ascending version order"
        )
        self.migrations = migrations
    }

    /// Applies what is missing and returns the migrations it applied (empty when the schema was current).
    @discardableResult
    public func migrate(_ client: PostgresClient, logger: Logger) async throws -> [Migration] {
        do {
            return try await apply(client, logger: logger)
        } catch let error as PostgresTransactionError {
            // The transaction was rolled back; what matters to the caller is why.
            throw error.closureError ?? error
        }
    }

    private func apply(_ client: PostgresClient, logger: Logger) async throws -> [Migration] {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.advisoryLockID))", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                logger: logger
            )
            var applied = Set<Int>()
            for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger)
                .decode(Int.self)
            {
                applied.insert(version)
            }
            var done: [Migration] = []
            for migration in migrations where !applied.contains(migration.version) {
                for statement in migration.statements {
                    do {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    } catch let error as PSQLError {
                        throw DatabaseError.migrationFailed(
                            version: migration.version,
                            name: migration.name,
                            reason: error.serverInfo?[.message] ?? "\(error.code)"
                        )
                    }
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger
                )
                logger.info("applied migration", metadata: ["migration.version": "\(migration.version)", "migration.name": "\(migration.name)"])
                done.append(migration)
            }
            return done
        }
    }

    /// The versions recorded as applied, ascending.
    public func appliedVersions(_ client: PostgresClient, logger: Logger) async throws -> [Int] {
        let exists = try await client.query("SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger)
            .decode(Bool.self)
        for try await present in exists where !present { return [] }
        var versions: [Int] = []
        for try await version in try await client.query("SELECT version FROM schema_migrations ORDER BY version", logger: logger)
            .decode(Int.self)
        {
            versions.append(version)
        }
        return versions
    }
}
