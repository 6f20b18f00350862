import Database
import Foundation
import Logging
import PostgresNIO

/// A database of its own for one test, created in the Postgres that the test command started
/// (`LEITSTAND_TEST_DATABASE_URL`, a role allowed to create databases) and dropped by ``drop()``.
public final class TestDatabase: Sendable {
    public let name: String
    public let url: String
    public let client: PostgresClient
    private let runTask: Task<Void, Never>
    private let adminURL: String

    public init() async throws {
        guard let adminURL = ProcessInfo.processInfo.environment["LEITSTAND_TEST_DATABASE_URL"] else {
            throw TestSupportError("LEITSTAND_TEST_DATABASE_URL is not set: run the tests with `./dev test`, which starts Postgres")
        }
        self.adminURL = adminURL
        let name = "test_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "_"))"
        self.name = name
        try await Self.withAdminClient(adminURL) { admin in
            try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        }
        var components = URLComponents(string: adminURL)!
        components.path = "/\(name)"
        url = components.string!
        client = PostgresClient(configuration: try PostgresClient.Configuration(url: url))
        let client = self.client
        runTask = Task { await client.run() }
    }

    /// Runs `body` with a new database and drops it afterwards, also when `body` fails.
    public static func with(_ body: (TestDatabase) async throws -> Void) async throws {
        let database = try await TestDatabase()
        do {
            try await body(database)
        } catch {
            await database.drop()
            throw error
        }
        await database.drop()
    }

    /// Closes the client and drops the database.
    public func drop() async {
        runTask.cancel()
        _ = await runTask.value
        let name = self.name
        try? await Self.withAdminClient(adminURL) { admin in
            try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
        }
    }

    private static func withAdminClient(_ url: String, _ body: @Sendable (PostgresClient) async throws -> Void) async throws {
        let admin = PostgresClient(configuration: try PostgresClient.Configuration(url: url))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await admin.run() }
            defer { group.cancelAll() }
            try await body(admin)
        }
    }
}
