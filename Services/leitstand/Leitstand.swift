import ArgumentParser

/// The operator's command line. Every command reads `LEITSTAND_DATABASE_URL` and/or `LEITSTAND_MQTT_URL`.
@main
struct Leitstand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leitstand",
        abstract: "Operate a Leitstand installation.",
        subcommands: [
            MigrateCommand.self, ServiceCommand.self, MemberCommand.self, DeviceCommand.self, AreaCommand.self, JobsCommand.self,
            HousekeepingCommand.self, SecretKeyCommand.self,
        ]
    )
}
