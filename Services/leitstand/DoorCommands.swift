import ArgumentParser
import Contracts
import Database
import DoorCrypto
import DoorStore
import Foundation
import MQTT
import PostgresNIO
import ServiceKit

struct MemberCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "member", abstract: "Members who may open doors.", subcommands: [Add.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a member, or replace their password, role and areas.")

        @Argument(help: "The username they log in with.") var name: String
        @Option(help: "Comma-separated areas they may open, e.g. haus-a,keller.") var areas: AreaList
        @Flag(help: "Admins may open every area and read every job.") var admin = false
        @Flag(help: "Read the password from standard input (required: passwords never go on a command line).") var passwordStdin = false

        func run() async throws {
            guard passwordStdin else { throw ValidationError("pass the password on standard input with --password-stdin") }
            let password = (readLine(strippingNewline: true) ?? "")
            guard password.count >= 8 else { throw ValidationError("the password must be at least 8 characters") }
            let (name, areas, admin) = (self.name, self.areas.areas, self.admin)
            try await CommandEnvironment.withDatabase { client in
                try await MemberDirectory(client: client, logger: CommandEnvironment.logger).upsert(username: name, password: password, isAdmin: admin, areas: areas)
                try await AuditLog(client: client, logger: CommandEnvironment.logger).append(
                    service: "leitstand", actor: CommandEnvironment.operator, type: "member.saved", subject: "member:\(name)",
                    detail: ["areas": areas.joined(separator: ","), "admin": "\(admin)"]
                )
            }
            print("member \(name) may open \(areas.joined(separator: ", "))\(admin ? " (admin)" : "")")
        }
    }
}

struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Door devices (needs LEITSTAND_SECRET_KEY, the key that seals device secrets in the database).",
        subcommands: [Add.self, RotateSecret.self, BrokerAccess.self, List.self]
    )

    /// Gives the device its broker user through the dynamic-security plugin (a new password each time) and
    /// prints the `LEITSTAND_MQTT_URL` it needs. Needs `LEITSTAND_MQTT_URL` of an admin allowed on `$CONTROL`.
    static func grantBrokerAccess(deviceID: String, areas: [String]) async throws -> String {
        let password = SecretSealer.newDeviceSecret()
        let commands = DynamicSecurity.doorDevice(deviceID, password: password, areas: areas)
        return try await CommandEnvironment.withBroker { client in
            try await DynamicSecurity(client: client).run(commands, tolerating: DynamicSecurity.notFound)
            return "mqtt://\(deviceID):\(password)@\(client.configuration.host):\(client.configuration.port)"
        }
    }

    static func registry(_ client: PostgresClient) throws -> DeviceRegistry {
        guard let keyText = ProcessInfo.processInfo.environment["LEITSTAND_SECRET_KEY"] else {
            throw ValidationError("LEITSTAND_SECRET_KEY is not set (the scheduler's key; `leitstand secret-key` makes a new one)")
        }
        guard let sealer = SecretSealer(keyText: keyText) else { throw ValidationError("LEITSTAND_SECRET_KEY must be 32 bytes as 64 hex digits or base64") }
        return DeviceRegistry(client: client, sealer: sealer, logger: CommandEnvironment.logger)
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a device for its areas and print its secret (shown only now).")

        @Argument(help: "The device id, ^[a-z0-9-]{1,64}$ (also its MQTT user name).") var id: String
        @Option(help: "Comma-separated areas whose doors it opens.") var areas: AreaList

        func run() async throws {
            guard AreaList.isValid(id) else { throw ValidationError("the device id must match ^[a-z0-9-]{1,64}$") }
            let (id, areas) = (self.id, self.areas.areas)
            let secret = try await CommandEnvironment.withDatabase { client in
                let secret = try await DeviceCommand.registry(client).add(id: id, areas: areas)
                try await AuditLog(client: client, logger: CommandEnvironment.logger).append(
                    service: "leitstand", actor: CommandEnvironment.operator, type: "device.added", subject: "device:\(id)",
                    detail: ["areas": areas.joined(separator: ",")]
                )
                return secret
            }
            print("device \(id) opens \(areas.joined(separator: ", "))")
            print("LEITSTAND_DEVICE_ID=\(id)")
            print("LEITSTAND_AREAS=\(areas.joined(separator: ","))")
            print("LEITSTAND_DEVICE_SECRET=\(secret)")
            do {
                print("LEITSTAND_MQTT_URL=\(try await DeviceCommand.grantBrokerAccess(deviceID: id, areas: areas))")
            } catch {
                print("(the broker user was not made: \(error); run `leitstand device broker-access \(id)` when the broker is reachable)")
            }
            print("(shown only now: put these in the device's env file, /etc/leitstand/pi-door-client.env)")
        }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-secret",
            abstract: "Give a device a new secret; the old one stays valid for the grace period."
        )

        @Argument var id: String
        @Option(help: "How long the old secret stays valid (e.g. 24h, 7d).") var grace = DurationArgument(argument: "24h")!

        func run() async throws {
            let (id, grace) = (self.id, self.grace)
            let secret = try await CommandEnvironment.withDatabase { client -> String? in
                guard let secret = try await DeviceCommand.registry(client).rotateSecret(id: id, grace: grace.duration) else { return nil }
                try await AuditLog(client: client, logger: CommandEnvironment.logger).append(
                    service: "leitstand", actor: CommandEnvironment.operator, type: "device.secret_rotated", subject: "device:\(id)",
                    detail: ["grace": grace.text]
                )
                return secret
            }
            guard let secret else { throw ValidationError("no device \(id)") }
            print("device \(id) has a new secret; the old one is accepted for \(grace.text) more")
            print("LEITSTAND_DEVICE_SECRET=\(secret)")
            print("(on the device: this as LEITSTAND_DEVICE_SECRET, the old one as LEITSTAND_DEVICE_SECRET_PREVIOUS until the grace ends)")
        }
    }

    struct BrokerAccess: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "broker-access",
            abstract: "(Re)create the device's broker user and rights for its areas, with a new password."
        )

        @Argument var id: String

        func run() async throws {
            let id = self.id
            let device = try await CommandEnvironment.withDatabase { client in
                try await DeviceCommand.registry(client).devices().first { $0.id == id }
            }
            guard let device else { throw ValidationError("no device \(id)") }
            print("LEITSTAND_MQTT_URL=\(try await DeviceCommand.grantBrokerAccess(deviceID: id, areas: device.areas))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Devices, their areas and rotations.")

        func run() async throws {
            let devices = try await CommandEnvironment.withDatabase { client in try await DeviceCommand.registry(client).devices() }
            for device in devices {
                let rotated = device.rotatedAt.map { "  rotated \(ContractCoding.timestamp($0))" } ?? ""
                let grace = device.previousValidUntil.map { $0 > Date() ? "  previous secret valid until \(ContractCoding.timestamp($0))" : "" } ?? ""
                print("\(device.id)  areas=\(device.areas.joined(separator: ","))\(rotated)\(grace)")
            }
        }
    }
}

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

    func run() async throws {
        let age = olderThan
        let deleted = try await CommandEnvironment.withDatabase { client in
            let ledger = DoorJobLedger(client: client, service: "leitstand", logger: CommandEnvironment.logger)
            return try await ledger.housekeeping(olderThan: age.duration, actor: CommandEnvironment.operator)
        }
        print("deleted \(deleted) door jobs older than \(age.text)")
    }
}

struct SecretKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "secret-key", abstract: "Print a new random LEITSTAND_SECRET_KEY.")

    func run() async throws { print(SecretSealer.newKeyText()) }
}

extension DoorJobStatus: ExpressibleByArgument {}
