import Database
import Foundation
import Logging
import PostgresNIO
import TestSupport
import Testing

@Suite("Database against a real Postgres", .timeLimit(.minutes(2)))
struct DatabaseTests {
    let logger = Logger(label: "test.database")

    @Test("migrations apply once, in order, and a second run is a no-op")
    func migrationsApplyOnce() async throws {
        try await TestDatabase.with { database in
            let migrator = Migrator(migrations: [
                Migration(version: 1, name: "widgets", statements: ["CREATE TABLE widgets (id int PRIMARY KEY)"]),
                Migration(version: 2, name: "widget_names", statements: [
                    "ALTER TABLE widgets ADD COLUMN name text",
                    "INSERT INTO widgets VALUES (1, 'first')",
                ]),
            ])
            let first = try await migrator.migrate(database.client, logger: logger)
            #expect(first.map(\.version) == [1, 2])
            let second = try await migrator.migrate(database.client, logger: logger)
            #expect(second.isEmpty)
            #expect(try await migrator.appliedVersions(database.client, logger: logger) == [1, 2])
            let names = try await database.client.query("SELECT name FROM widgets").decode(String.self).collectAll()
            #expect(names == ["first"])
        }
    }

    @Test("a failing migration leaves nothing behind: all pending migrations share one transaction")
    func failingMigrationRollsBack() async throws {
        try await TestDatabase.with { database in
            let migrator = Migrator(migrations: [
                Migration(version: 1, name: "good", statements: ["CREATE TABLE good (id int)"]),
                Migration(version: 2, name: "bad", statements: ["CREATE TABLE broken (id nosuchtype)"]),
            ])
            await #expect(throws: DatabaseError.self) { try await migrator.migrate(database.client, logger: logger) }
            #expect(try await migrator.appliedVersions(database.client, logger: logger) == [])
            let exists = try await database.client.query("SELECT to_regclass('good') IS NOT NULL").decode(Bool.self).collectAll()
            #expect(exists == [false])
        }
    }

    @Test("concurrent migrators (several services starting at once) apply each migration exactly once")
    func concurrentMigrators() async throws {
        try await TestDatabase.with { database in
            let results = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<4 {
                    group.addTask { try await Migrator().migrate(database.client, logger: logger).map(\.version) }
                }
                return try await group.reduce(into: [[Int]]()) { $0.append($1) }
            }
            #expect(results.filter { !$0.isEmpty }.count == 1)
            #expect(results.flatMap { $0 } == LeitstandSchema.migrations.map(\.version))
        }
    }

    @Test("audit entries round-trip with their JSON detail")
    func auditRoundTrip() async throws {
        try await TestDatabase.with { database in
            try await Migrator().migrate(database.client, logger: logger)
            let audit = AuditLog(client: database.client, logger: logger)
            struct Detail: Codable, Sendable, Equatable {
                var area: String
                var pulseMs: Int
            }
            let id = try await audit.append(service: "door-scheduler", actor: "member:7", type: "door.open_requested", subject: "area:lobby", detail: Detail(area: "lobby", pulseMs: 800))
            try await audit.append(service: "api-gateway", actor: "operator", type: "service.restart_requested", subject: "service:x", detail: ["reason": "test"])

            let entries = try await audit.recent(subject: "area:lobby")
            #expect(entries.count == 1)
            let entry = try #require(entries.first)
            #expect(entry.id == id)
            #expect(entry.service == "door-scheduler" && entry.actor == "member:7" && entry.type == "door.open_requested")
            #expect(try JSONDecoder().decode(Detail.self, from: Data(entry.detail.utf8)) == Detail(area: "lobby", pulseMs: 800))
            #expect(abs(try #require(entry.at).timeIntervalSinceNow) < 60)
            #expect(try await audit.recent().count == 2)
            #expect(try await audit.recent(type: "service.restart_requested").map(\.actor) == ["operator"])
        }
    }
}

@Suite("Database configuration")
struct DatabaseConfigurationTests {
    @Test("a postgres URL gives host, port, user, password and database")
    func parsesURL() throws {
        let configuration = try PostgresClient.Configuration(url: "postgres://leit:p%2Fw@db.local:5433/leitstand")
        #expect(configuration.host == "db.local")
        #expect(configuration.port == 5433)
        #expect(configuration.username == "leit")
        #expect(configuration.password == "p/w")
        #expect(configuration.database == "leitstand")
    }

    @Test("bad URLs are refused", arguments: [
        "mysql://u@h/db", "postgres://h/db", "postgres://u@h", "postgres://u@h/db?sslmode=sometimes", "postgres://u@h:0/db",
    ])
    func refusesBadURLs(url: String) {
        #expect(throws: DatabaseError.self) { try PostgresClient.Configuration(url: url) }
    }
}
