import ArgumentParser
import Contracts
import Database
import DoorCrypto
import DoorStore
import Foundation
import MQTT
import PostgresNIO
import ServiceKit

struct AreaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "area", abstract: "Areas (doors).", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every area with its devices and member count.")

        func run() async throws {
            let rows = try await CommandEnvironment.withDatabase { client in
                let rows = try await client.query(
                    """
                    SELECT a.name,
                           coalesce((SELECT string_agg(device_id, ',' ORDER BY device_id) FROM device_areas WHERE area = a.name), ''),
                           (SELECT count(*)::int FROM member_areas WHERE area = a.name)
                    FROM areas a ORDER BY a.name
                    """,
                    logger: CommandEnvironment.logger
                )
                var lines: [String] = []
                for try await (name, devices, members) in rows.decode((String, String, Int).self) {
                    lines.append("\(name)  devices=\(devices.isEmpty ? "-" : devices)  members=\(members)")
                }
                return lines
            }
            rows.forEach { print($0) }
        }
    }
}

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "jobs", abstract: "The newest door jobs.")

    @Option var area: String?
    @Option var status: DoorJobStatus?
    @Option var limit = 50

    func run() async throws {
        let (area, limit, status) = (self.area, self.limit, self.status)
        let jobs = try await CommandEnvironment.withDatabase { client in
            let ledger = DoorJobLedger(client: client, service: "leitstand", logger: CommandEnvironment.logger)
            return try await ledger.list(area: area, status: status, limit: limit).map { job in
                let view = job.view
                let late = view.lateConfirmAt.map { "  lateConfirmAt=\(ContractCoding.timestamp($0))" } ?? ""
                return "\(ContractCoding.timestamp(view.createdAt))  \(view.jobId)  \(view.area)  \(view.status.rawValue)  member=\(job.member)  device=\(job.device ?? "-")  \(view.resultCode ?? "")\(late)"
            }
        }
        jobs.forEach { print($0) }
    }
}

struct HousekeepingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "housekeeping",
        abstract: "Delete finished door jobs older than the given age; their audit entries stay."
    )

    @Option(name: .customLong("older-than")) var olderThan = DurationArgument(argument: "90d")!
    @Flag(help: "Only count what would be deleted.") var dryRun = false

    func run() async throws {
        let (age, dryRun) = (olderThan, self.dryRun)
        let count = try await CommandEnvironment.withDatabase { client in
            let ledger = DoorJobLedger(client: client, service: "leitstand", logger: CommandEnvironment.logger)
            return try await ledger.housekeeping(olderThan: age.duration, actor: CommandEnvironment.operator, dryRun: dryRun)
        }
        print(dryRun ? "would delete \(count) door jobs older than \(age.text) (dry run: nothing deleted)" : "deleted \(count) door jobs older than \(age.text)")
    }
}

struct SecretKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "secret-key", abstract: "Print a new random LEITSTAND_SECRET_KEY.")

    func run() async throws { print(SecretSealer.newKeyText()) }
}

extension DoorJobStatus: ExpressibleByArgument {}
