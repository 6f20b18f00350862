import ArgumentParser
import Contracts
import Database
import DoorCrypto
import DoorStore
import Foundation
import Logging
import MQTT
import PostgresNIO

/// Door opens through the whole running stack, measured from outside like a member and a door would see them:
/// HTTP open → api-gateway → door-scheduler → MQTT → pi-door-client (simulated relay) → signed confirm →
/// `executed`. It registers `--areas` devices (one area each), starts a real pi-door-client for each, and opens
/// doors from one worker per area until `--opens` jobs were accepted. Afterwards every job must be executed and
/// pulsed exactly once. Then the same opens through the HTTP poll fallback (seed 000's pull model), with the
/// benchmark polling as the devices every `--poll-interval-ms`.
@main
struct DoorBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "door-benchmark",
        abstract: "Open → pulse → executed latency and opens/s through the running stack (see docs/performance.md)."
    )

    @Option(help: "Areas, each with its own device process.") var areas = 100
    @Option(help: "Accepted opens to measure over MQTT.") var opens = 3_000
    @Option(help: "Opens per second over all areas, each area on its own schedule (default: as fast as the stack answers).") var rate: Double?
    @Option(help: "Accepted opens to measure through the HTTP poll fallback (0: skip).") var pollOpens = 1_000
    @Option(help: "Poll interval of the simulated HTTP devices.") var pollIntervalMs = 1_000
    @Option(help: "The gateway.") var gateway = "http://127.0.0.1:\(ProcessInfo.processInfo.environment["LEITSTAND_DEV_HTTP_PORT"] ?? "18080")"

    func run() async throws {
        var logger = Logger(label: "door-benchmark")
        logger.logLevel = .warning
        let environment = ProcessInfo.processInfo.environment
        guard let databaseURL = environment["LEITSTAND_DATABASE_URL"], let mqttURL = environment["LEITSTAND_MQTT_URL"],
              let keyText = environment["LEITSTAND_SECRET_KEY"], let sealer = SecretSealer(keyText: keyText)
        else { throw ValidationError("run `eval \"$(./dev env)\"` first (LEITSTAND_DATABASE_URL, LEITSTAND_MQTT_URL, LEITSTAND_SECRET_KEY)") }
        let run = String(UUID().uuidString.prefix(6).lowercased())
        let database = PostgresClient(configuration: try PostgresClient.Configuration(url: databaseURL), backgroundLogger: logger)
        let databaseTask = Task { await database.run() }
        defer { databaseTask.cancel() }
        var adminConfiguration = try MQTTConfiguration(url: mqttURL, clientID: "door-benchmark-\(run)")
        // The broker names clients after their user; the benchmark is the operator's one client while it runs.
        adminConfiguration.clientID = adminConfiguration.username ?? adminConfiguration.clientID
        adminConfiguration.keepAlive = .seconds(60)
        let admin = try MQTTClient(configuration: adminConfiguration, logger: logger)
        try await admin.connect()

        let http = BenchmarkHTTP(base: gateway, connections: 2 * areas)
        let password = SecretSealer.newDeviceSecret()
        let mqttAreas = (1...areas).map { "bench-\(run)-m\($0)" }
        let pollAreas = pollOpens > 0 ? (1...areas).map { "bench-\(run)-p\($0)" } : []
        print("door-benchmark run \(run): \(areas) areas with a pi-door-client each and a member each, \(opens) opens over MQTT; \(pollOpens) through the HTTP poll (\(pollIntervalMs) ms)")
        // One member per door, as in a building: a member's opens are decided one at a time (rate limit, lock).
        let members = MemberDirectory(client: database, logger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            for index in 0..<areas {
                group.addTask {
                    let doors = [mqttAreas[index]] + (pollAreas.isEmpty ? [] : [pollAreas[index]])
                    try await members.upsert(username: "bench-\(run)-member\(index + 1)", password: password, isAdmin: false, areas: doors)
                }
            }
        }
        let registry = DeviceRegistry(client: database, sealer: sealer, logger: logger)
        let fleet = try await DeviceFleet.start(
            areas: mqttAreas, registry: registry, admin: admin, brokerURL: adminConfiguration, logger: logger
        )
        defer { fleet.stop() }
        // Ctrl-C or SIGTERM must not leave a hundred device processes behind.
        let stopSignals = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler {
                fleet.stop()
                Foundation.exit(130)
            }
            source.resume()
            return source
        }
        defer { stopSignals.forEach { $0.cancel() } }
        var tokens: [String: String] = [:]
        for index in 0..<areas {
            let token = try await http.login("bench-\(run)-member\(index + 1)", password)
            tokens[mqttAreas[index]] = token
            if !pollAreas.isEmpty { tokens[pollAreas[index]] = token }
        }

        let mqttResult = try await OpenRun.overMQTT(areas: mqttAreas, opens: opens, rate: rate, http: http, tokens: tokens, admin: admin)
        // Paced, the last opens were not waited for: let them finish (a device records its pulse before it confirms).
        var executed = try await Self.executedTimes(mqttResult.jobs.map(\.id), database: database)
        let settled = ContinuousClock.now + .seconds(30)
        while executed.count < mqttResult.jobs.count && ContinuousClock.now < settled {
            try await Task.sleep(for: .milliseconds(200))
            executed = try await Self.executedTimes(mqttResult.jobs.map(\.id), database: database)
        }
        let pulses = try fleet.pulses()
        let paced = rate.map { String(format: ", paced at %.0f opens/s", $0) } ?? ", unpaced"
        let report = Report(name: "MQTT push\(paced)", result: mqttResult, pulses: pulses, executed: executed)
        report.print()
        try report.verify()

        if pollOpens > 0 {
            var secrets: [String: String] = [:]
            for area in pollAreas { secrets[area] = try await registry.add(id: area, areas: [area]) }
            let pollResult = try await OpenRun.overHTTPPoll(
                areas: pollAreas, secrets: secrets, opens: pollOpens, interval: .milliseconds(pollIntervalMs), http: http, tokens: tokens
            )
            let pollExecuted = try await Self.executedTimes(pollResult.jobs.map(\.id), database: database)
            let pollReport = Report(name: "HTTP poll (\(pollIntervalMs) ms), unpaced", result: pollResult, pulses: pollResult.pulses, executed: pollExecuted)
            pollReport.print()
            try pollReport.verify()
        }
        await admin.disconnect()
        try await http.shutdown()
    }

    /// `executed_at` of each job, from the scheduler's own records; a job that is not executed is missing.
    static func executedTimes(_ ids: [String], database: PostgresClient) async throws -> [String: Date] {
        var times: [String: Date] = [:]
        for chunk in stride(from: 0, to: ids.count, by: 1_000).map({ Array(ids[$0..<min($0 + 1_000, ids.count)]) }) {
            let uuids = chunk.compactMap(UUID.init(uuidString:))
            let rows = try await database.query("SELECT id, executed_at FROM door_jobs WHERE id = ANY(\(uuids)) AND status = 'executed'")
            for try await (id, executedAt) in rows.decode((UUID, Date).self) { times[id.uuidString.lowercased()] = executedAt }
        }
        return times
    }
}
