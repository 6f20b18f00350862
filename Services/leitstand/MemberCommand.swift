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
    static let configuration = CommandConfiguration(
        commandName: "member", abstract: "Members who may open doors.",
        subcommands: [Add.self, List.self, Remove.self, Disable.self, Enable.self, LogoutAll.self]
    )

    /// Runs a change to one member, audits it, and fails the command for an unknown member. Every change takes
    /// effect at the member's next request: rights are checked when used, not when a session was made.
    static func change(_ name: String, type: String, _ body: @escaping @Sendable (MemberDirectory) async throws -> Bool) async throws {
        let found = try await CommandEnvironment.withDatabase { client -> Bool in
            guard try await body(MemberDirectory(client: client, logger: CommandEnvironment.logger)) else { return false }
            try await AuditLog(client: client, logger: CommandEnvironment.logger).append(
                service: "leitstand", actor: CommandEnvironment.operator, type: type, subject: "member:\(name)", detail: [String: String]()
            )
            return true
        }
        guard found else { throw CommandFailure("no member \(name)") }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every member with their areas, role and state.")

        func run() async throws {
            let members = try await CommandEnvironment.withDatabase { client in
                try await MemberDirectory(client: client, logger: CommandEnvironment.logger).members()
            }
            for member in members {
                print("\(member.username)  areas=\(member.areas.joined(separator: ","))\(member.isAdmin ? "  admin" : "")\(member.isDisabled ? "  disabled" : "")")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a member: their sessions end at once; their jobs and audit entries stay.")
        @Argument var name: String
        func run() async throws {
            let name = self.name
            try await MemberCommand.change(name, type: "member.removed") { try await $0.remove(name) }
            print("member \(name) removed")
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a member: their sessions end at once and they cannot log in.")
        @Argument var name: String
        func run() async throws {
            let name = self.name
            try await MemberCommand.change(name, type: "member.disabled") { try await $0.setDisabled(name, true) }
            print("member \(name) disabled")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled member again (they log in anew).")
        @Argument var name: String
        func run() async throws {
            let name = self.name
            try await MemberCommand.change(name, type: "member.enabled") { try await $0.setDisabled(name, false) }
            print("member \(name) enabled")
        }
    }

    struct LogoutAll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "logout-all", abstract: "End every session of a member at once (a lost phone).")
        @Argument var name: String
        func run() async throws {
            let name = self.name
            try await MemberCommand.change(name, type: "member.sessions_ended") { try await $0.endSessions(name) }
            print("every session of \(name) has ended")
        }
    }

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
