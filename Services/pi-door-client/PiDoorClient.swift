import ArgumentParser
import Contracts
import Foundation
import GPIO
import Logging
import MQTT
import ServiceKit

/// The door device on a Raspberry Pi: takes signed jobs for its areas over MQTT, pulses the relay, confirms.
@main
struct PiDoorClient: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pi-door-client",
        abstract: "Leitstand's door device: MQTT jobs → relay pulse → signed confirm.",
        subcommands: [Run.self, TestRelay.self],
        defaultSubcommand: Run.self
    )

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the device (what the systemd unit starts).")

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let deviceID = environment["LEITSTAND_DEVICE_ID"] ?? ""
            // Read before the settings, for the status payload the runtime publishes; the settings check them.
            let areas = DeviceSettings.areas(environment["LEITSTAND_AREAS"] ?? "")
            let identity = ServiceIdentity(
                name: "pi-door-client",
                statusTopic: Topic.deviceStatus(deviceID),
                restartTopic: Topic.deviceRestart(deviceID)
            ) { state, at, _ in
                (try? ContractCoding.encode(DeviceStatus(state: state, areas: areas, version: ServiceIdentity.buildVersion, at: at))) ?? Data()
            }
            let (runtime, settings) = ServiceRuntime.bootstrap(
                identity, usesDatabase: false, defaultHTTPPort: 8084, settings: DeviceSettings.read
            )
            let relay: any DoorRelay
            let seen: SeenJobs
            let confirms: ConfirmDelivery
            do {
                relay = try DoorRelays.open(settings.gpio, consumer: "leitstand-door")
                seen = try SeenJobs(directory: settings.stateDirectory)
                confirms = try ConfirmDelivery(directory: settings.stateDirectory, client: runtime.mqtt, secrets: settings.secrets, logger: runtime.logger)
            } catch let error as GPIOError {
                FileHandle.standardError.write(Data("pi-door-client: LEITSTAND_GPIO: \(error)\n".utf8))
                Foundation.exit(ProcessExit.configurationError)
            } catch {
                FileHandle.standardError.write(Data("pi-door-client: LEITSTAND_STATE_DIR: \(error)\n".utf8))
                Foundation.exit(ProcessExit.configurationError)
            }
            runtime.logger.info("door device configured", metadata: [
                "device.id": "\(settings.deviceID)", "areas": "\(settings.areas)", "seenJobs": "\(seen.count)",
                "pendingConfirms": "\(confirms.pendingCount)",
            ])
            let controller = RelayController(relay: relay)
            // Stopped in reverse order: the executor hands its last confirm over before the delivery stops.
            await runtime.run(router: runtime.makeRouter(), services: [
                confirms,
                JobExecutor(client: runtime.mqtt, settings: settings, relay: controller, seen: seen, confirms: confirms, logger: runtime.logger),
            ])
        }
    }

    struct TestRelay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "test-relay",
            abstract: "Pulse the relay once, locally, without the broker (the hardware test of seed 000)."
        )

        @Option(name: .customLong("ms"), help: "Pulse length in milliseconds (default LEITSTAND_PULSE_MS or 1000; at most 10000).")
        var milliseconds: Int?

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            guard let gpio = environment["LEITSTAND_GPIO"] else { throw ValidationError("LEITSTAND_GPIO is not set") }
            let length = milliseconds ?? environment["LEITSTAND_PULSE_MS"].flatMap(Int.init) ?? 1_000
            guard (1...DeviceSettings.maximumPulseMs).contains(length) else { throw ValidationError("--ms must be 1…\(DeviceSettings.maximumPulseMs)") }
            let relay = try DoorRelays.open(gpio, consumer: "leitstand-door-test")
            let controller = RelayController(relay: relay)
            switch await controller.pulse(jobID: nil, milliseconds: length) {
            case .pulsed, .joined:
                print("relay pulsed for \(length) ms")
            case .failed(let reason):
                await controller.release()
                throw ValidationError("the relay did not pulse: \(reason)")
            }
            await controller.release()
        }
    }
}
