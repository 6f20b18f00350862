import Contracts
import Foundation
import Logging
import MQTT
import Metrics
import ServiceLifecycle
import Synchronization

/// Which devices are online, from their retained status topics (the broker sends every retained status on
/// subscribe, and the last will when a device vanishes). Presence is the broker's truth; nothing is stored.
final class DevicePresence: Service, Sendable {
    private let online = Mutex<Set<String>>([])
    private let statuses: MQTTSubscription
    private let logger: Logger
    private let onlineGauge = Gauge(label: "leitstand_door_devices_online")

    /// `statuses` is subscribed before the client connects, like the confirms: every start sends the SUBSCRIBE
    /// anew, so the broker sends every retained status again, also into a persistent session.
    init(statuses: MQTTSubscription, logger: Logger) {
        self.statuses = statuses
        self.logger = logger
    }

    var onlineDevices: Set<String> { online.withLock { $0 } }

    func run() async throws {
        for await message in statuses.cancelOnGracefulShutdown() {
            let parts = message.topic.split(separator: "/")
            guard parts.count == 4 else { continue }
            let deviceID = String(parts[2])
            let isOnline: Bool
            if message.payload.isEmpty {
                isOnline = false  // a cleared retained status
            } else if let status = try? ContractCoding.decode(DeviceStatus.self, from: message.payload) {
                isOnline = status.state == .online
            } else {
                logger.warning("ignored a malformed device status", metadata: ["device.id": "\(deviceID)"])
                continue
            }
            let count = online.withLock { devices in
                if isOnline { devices.insert(deviceID) } else { devices.remove(deviceID) }
                return devices.count
            }
            onlineGauge.record(count)
            logger.info("device presence", metadata: ["device.id": "\(deviceID)", "device.online": "\(isOnline)"])
        }
    }
}
