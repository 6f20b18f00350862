import ArgumentParser
import Contracts
import Database
import DoorCrypto
import DoorStore
import Foundation
import MQTT
import PostgresNIO
import ServiceKit

struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Door devices (needs LEITSTAND_SECRET_KEY, the key that seals device secrets in the database).",
        subcommands: [Add.self, Remove.self, RotateSecret.self, BrokerAccess.self, List.self]
    )

    /// Gives the device its broker user through the dynamic-security plugin (a new password each time) and
    /// prints the `LEITSTAND_MQTT_URL` it needs. Needs `LEITSTAND_MQTT_URL` of an admin allowed on `$CONTROL`.
    static func grantBrokerAccess(deviceID: String, areas: [String]) async throws -> String {
        guard !ServiceNames.isReservedForServices(deviceID) else {
            throw ValidationError("\(deviceID) is a service's name on the broker: no device account is made for it")
        }
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
            guard !ServiceNames.isReservedForServices(id) else {
                throw ValidationError("\(id) is a service's name on the broker (the device's id is its broker account): choose another")
            }
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

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a device: its secret stops working at once and its broker user is deleted; its jobs stay."
        )

        @Argument var id: String

        func run() async throws {
            let id = self.id
            let removed = try await CommandEnvironment.withDatabase { client -> Bool in
                guard try await DeviceCommand.registry(client).remove(id: id) else { return false }
                try await AuditLog(client: client, logger: CommandEnvironment.logger).append(
                    service: "leitstand", actor: CommandEnvironment.operator, type: "device.removed", subject: "device:\(id)", detail: [String: String]()
                )
                return true
            }
            guard removed else { throw CommandFailure("no device \(id)") }
            print("device \(id) removed")
            do {
                try await CommandEnvironment.withBroker { client in
                    try await DynamicSecurity(client: client).run(DynamicSecurity.removeDevice(id), tolerating: DynamicSecurity.notFound)
                }
                print("its broker user is deleted (a connection it still has is closed by the broker)")
            } catch {
                throw CommandFailure("the broker user of \(id) was not deleted: \(error); run `leitstand device remove \(id)` again when the broker is reachable")
            }
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
            guard let secret else { throw CommandFailure("no device \(id)") }
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
            guard let device else { throw CommandFailure("no device \(id)") }
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
