import DoorCrypto
import DoorStore
import ServiceKit

/// The door-scheduler's configuration, checked at start.
struct SchedulerSettings: Sendable {
    var sealer: SecretSealer
    /// Opens the gateway's sealed requests (`LEITSTAND_RPC_KEY`).
    var rpcSeal: RPCSeal
    var policy: DoorPolicy
    /// Finished jobs older than this are deleted by the daily housekeeping (their audit entries stay).
    var retentionDays: Int

    static func read(_ reader: inout ConfigurationReader) -> SchedulerSettings {
        var sealer: SecretSealer?
        if let keyText = reader.required("LEITSTAND_SECRET_KEY") {
            sealer = SecretSealer(keyText: keyText)
            if sealer == nil { reader.report("LEITSTAND_SECRET_KEY", "must be 32 bytes as 64 hex digits or base64 (make one with `leitstand secret-key`)") }
        }
        var policy = DoorPolicy()
        policy.confirmWindowSeconds = reader.integer("LEITSTAND_CONFIRM_WINDOW_S", default: policy.confirmWindowSeconds, range: 1...600)
        policy.memberAreaLockSeconds = reader.integer("LEITSTAND_DOOR_MEMBER_AREA_LOCK_S", default: policy.memberAreaLockSeconds, range: 0...3_600)
        policy.rateLimit = reader.integer("LEITSTAND_DOOR_RATE_LIMIT", default: policy.rateLimit, range: 1...1_000_000)
        policy.rateWindowSeconds = reader.integer("LEITSTAND_DOOR_RATE_WINDOW_S", default: policy.rateWindowSeconds, range: 1...86_400)
        policy.pulseMs = reader.integer("LEITSTAND_PULSE_MS", default: policy.pulseMs, range: 1...10_000)
        policy.pollPresenceSeconds = reader.integer("LEITSTAND_DOOR_POLL_PRESENCE_S", default: policy.pollPresenceSeconds, range: 1...3_600)
        let retentionDays = reader.integer("LEITSTAND_DOOR_RETENTION_DAYS", default: 90, range: 1...36_500)
        let rpcSeal = reader.secret("LEITSTAND_RPC_KEY", minimumLength: 32).flatMap(RPCSeal.init(keyText:))
        // Placeholders only when a problem was reported; validation exits before they are used.
        return SchedulerSettings(
            sealer: sealer ?? SecretSealer(keyText: String(repeating: "0", count: 64))!, rpcSeal: rpcSeal ?? RPCSeal.placeholder,
            policy: policy, retentionDays: retentionDays
        )
    }
}
