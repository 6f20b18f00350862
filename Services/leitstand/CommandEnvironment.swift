import ArgumentParser
import Database
import Foundation
import Logging
import MQTT
import PostgresNIO
import ServiceKit

/// What the commands share: reading their variables (failing with one line per problem), a database client
/// that runs only for the command's duration, and a broker connection.
enum CommandEnvironment {
    static let logger: Logger = {
        var logger = Logger(label: "leitstand")
        logger.logLevel = .warning
        return logger
    }()

    /// Who runs the command, for audit entries: `$SUDO_USER` or `$USER` on this host.
    static var `operator`: String {
        let environment = ProcessInfo.processInfo.environment
        return "operator:\(environment["SUDO_USER"] ?? environment["USER"] ?? "unknown")@\(ProcessInfo.processInfo.hostName)"
    }

    /// Fails the command with every configuration problem, one per line.
    static func validate(_ reader: ConfigurationReader) throws {
        do {
            try reader.validate()
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// Runs `body` with a connected database client, closing it afterwards.
    static func withDatabase<Result: Sendable>(_ body: @escaping @Sendable (PostgresClient) async throws -> Result) async throws -> Result {
        var reader = ConfigurationReader()
        let configuration = reader.database()
        try validate(reader)
        let client = PostgresClient(configuration: configuration!, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// Runs `body` with a connected broker client, disconnecting afterwards.
    static func withBroker<Result: Sendable>(_ body: (MQTTClient) async throws -> Result) async throws -> Result {
        var reader = ConfigurationReader()
        var configuration = reader.mqtt(clientID: "leitstand")
        try validate(reader)
        // The broker names each client after its account (`use_username_as_clientid`): so does the CLI.
        if let username = configuration?.username { configuration?.clientID = username }
        let client = try MQTTClient(configuration: configuration!, logger: logger)
        do {
            try await client.connect(timeout: .seconds(5))
            let result = try await body(client)
            await client.disconnect()
            return result
        } catch {
            await client.disconnect()
            throw error
        }
    }
}
