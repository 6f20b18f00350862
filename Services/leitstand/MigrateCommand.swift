import ArgumentParser
import Database

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Bring the database schema up to date (safe to run at any time; services also do it at start)."
    )

    func run() async throws {
        let (applied, versions) = try await CommandEnvironment.withDatabase { client in
            let migrator = Migrator()
            let applied = try await migrator.migrate(client, logger: CommandEnvironment.logger)
            return (applied.map { "\($0.version) \($0.name)" }, try await migrator.appliedVersions(client, logger: CommandEnvironment.logger))
        }
        if applied.isEmpty {
            print("schema is current (version \(versions.last ?? 0))")
        } else {
            for migration in applied { print("applied \(migration)") }
            print("schema is now at version \(versions.last ?? 0)")
        }
    }
}
