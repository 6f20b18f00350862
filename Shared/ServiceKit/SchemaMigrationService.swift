import Database
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Brings the schema up to date when the service starts, retrying with backoff while the database is not
/// reachable yet (compose starts everything at once). Until it has succeeded, `/health` reports the database down.
public final class SchemaMigrationService: Service {
    let client: PostgresClient
    let logger: Logger
    private let migrated = Mutex(false)

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public var isMigrated: Bool { migrated.withLock { $0 } }

    public func run() async throws {
        var delay = Duration.milliseconds(250)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let (client, logger) = (self.client, self.logger)
                let applied = try await cancelWhenGracefulShutdown { try await Migrator().migrate(client, logger: logger) }
                logger.info("database schema is current", metadata: ["migrations.applied": "\(applied.map(\.version))"])
                migrated.withLock { $0 = true }
                break
            } catch where !Task.isShuttingDownGracefully {
                logger.warning("database not ready, retrying", metadata: ["error": "\(String(reflecting: error))", "retryIn": "\(delay)"])
                let wait = delay
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
                delay = min(delay * 2, .seconds(10))
            } catch {
                break
            }
        }
        try? await gracefulShutdown()
    }
}
