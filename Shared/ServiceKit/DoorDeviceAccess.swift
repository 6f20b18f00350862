import Contracts
import MQTT

extension DynamicSecurity {
    /// The broker rights of a door device with the contract's topics: its areas' jobs and confirms, its own
    /// status, restart command, replies and audit entries (see ``deviceCommands(deviceID:password:areas:jobs:confirm:status:commands:replies:audit:)``).
    public static func doorDevice(_ deviceID: String, password: String, areas: [String]) -> [Command] {
        deviceCommands(
            deviceID: deviceID, password: password, areas: areas,
            jobs: Topic.doorJobs(area:), confirm: Topic.doorConfirm(area:),
            status: Topic.deviceStatus(deviceID), commands: Topic.deviceRestart(deviceID),
            replies: Topic.replies(clientID: deviceID), audit: Topic.audit(deviceID)
        )
    }
}
