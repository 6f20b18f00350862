/// The rules of opening doors, from the scheduler's environment (see docs/configuration.md).
public struct DoorPolicy: Sendable {
    /// How long a device has to confirm a job (`LEITSTAND_CONFIRM_WINDOW_S`, default 30 s).
    public var confirmWindowSeconds: Int = 30
    /// After an open, the same member cannot open the same area again for this long (`door_in_use`).
    public var memberAreaLockSeconds: Int = 5
    /// Opens per member within ``rateWindowSeconds`` (`rate_limited` beyond).
    public var rateLimit: Int = 10
    public var rateWindowSeconds: Int = 60
    /// What the job tells the device to pulse (`LEITSTAND_PULSE_MS` of the scheduler; the device caps it at 10 s).
    public var pulseMs: Int = 1_000
    /// A device that polled over HTTP within this long counts as online (the fallback's presence).
    public var pollPresenceSeconds: Int = 10

    public init() {}
}
