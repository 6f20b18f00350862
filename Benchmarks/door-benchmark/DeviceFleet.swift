import Contracts
import DoorCrypto
import DoorStore
import Foundation
import Logging
import MQTT
import ServiceKit
import Synchronization

/// One real pi-door-client process per area, each with its own broker user (dynamic security), simulated relay
/// file and state directory, as `leitstand device add` would set them up.
final class DeviceFleet: Sendable {
    let directory: URL
    private let processes: Mutex<[Process]>

    private init(directory: URL, processes: [Process]) {
        self.directory = directory
        self.processes = Mutex(processes)
    }

    static func start(
        areas: [String], registry: DeviceRegistry, admin: MQTTClient, brokerURL: MQTTConfiguration, logger: Logger
    ) async throws -> DeviceFleet {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("door-benchmark-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("pi-door-client")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else { throw BenchmarkError("no pi-door-client next to the benchmark: swift build -c release") }

        let statuses = try await admin.subscribe(Topic.allDeviceStatuses)
        let online = OnlineDevices()
        let watcher = Task {
            for await message in statuses {
                guard let status = try? ContractCoding.decode(DeviceStatus.self, from: message.payload), status.state == .online else { continue }
                let id = String(message.topic.split(separator: "/")[2])
                online.ids.withLock { _ = $0.insert(id) }
            }
        }
        defer { watcher.cancel() }

        var processes: [Process] = []
        for area in areas {
            let secret = try await registry.add(id: area, areas: [area])
            let password = SecretSealer.newDeviceSecret()
            let commands = DynamicSecurity.doorDevice(area, password: password, areas: [area])
            try await DynamicSecurity(client: admin).run(commands, tolerating: DynamicSecurity.notFound)
            let state = directory.appendingPathComponent(area)
            try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
            let process = Process()
            process.executableURL = binary
            process.environment = [
                "PATH": "/usr/bin:/bin",
                "LEITSTAND_MQTT_URL": "mqtt://\(area):\(password)@\(brokerURL.host):\(brokerURL.port)",
                "LEITSTAND_HTTP_HOST": "127.0.0.1",
                // Any free port: the benchmark never asks a device's /health, and no run can collide with another.
                "LEITSTAND_HTTP_PORT": "0",
                "LEITSTAND_DEVICE_ID": area,
                "LEITSTAND_DEVICE_SECRET": secret,
                "LEITSTAND_AREAS": area,
                "LEITSTAND_GPIO": "sim:\(state.appendingPathComponent("pulses.jsonl").path)",
                "LEITSTAND_STATE_DIR": state.path,
                "LEITSTAND_LOG_LEVEL": "warning",
                "LEITSTAND_LOG_FORMAT": "json",
            ]
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            let log = state.appendingPathComponent("output.log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: log)
            try process.run()
            processes.append(process)
        }
        let fleet = DeviceFleet(directory: directory, processes: processes)
        let deadline = ContinuousClock.now + .seconds(60)
        while online.ids.withLock({ $0.count }) < areas.count {
            guard ContinuousClock.now < deadline else {
                fleet.stop()
                throw BenchmarkError("only \(online.ids.withLock { $0.count }) of \(areas.count) devices came online; see \(directory.path)/*/output.log")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return fleet
    }

    /// Every pulse every relay recorded: job id → start times (one each, if nothing pulsed twice).
    func pulses() throws -> [String: [Date]] {
        var pulses: [String: [Date]] = [:]
        for area in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            let file = directory.appendingPathComponent(area).appendingPathComponent("pulses.jsonl")
            guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let id = object["jobId"] as? String, let started = object["startedAt"] as? String,
                      let date = try? Date(started, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
                else { continue }
                pulses[id, default: []].append(date)
            }
        }
        return pulses
    }

    func stop() {
        processes.withLock { processes in
            for process in processes where process.isRunning { process.terminate() }
            for process in processes { process.waitUntilExit() }
            processes.removeAll()
        }
    }
}

/// The devices whose retained status said online.
final class OnlineDevices: Sendable {
    let ids = Mutex<Set<String>>([])
}
