/// Every MQTT topic of Leitstand. Nothing else in the code base spells a topic string.
public enum Topic {
    public static let prefix = "leitstand"

    /// Retained `online`/`offline` status of a service (the last will publishes `offline`).
    public static func serviceStatus(_ service: String) -> String { "\(prefix)/svc/\(service)/status" }
    /// Every service's status, for watchers.
    public static let allServiceStatuses = "\(prefix)/svc/+/status"
    /// Asks a service to drain and exit, for its supervisor to restart it.
    public static func restartCommand(_ service: String) -> String { "\(prefix)/svc/\(service)/cmd/restart" }
    /// Request/response to a service method; the reply goes to the requester's response topic.
    public static func rpc(_ service: String, _ method: String) -> String { "\(prefix)/rpc/\(service)/\(method)" }
    /// Every method of one service, for its responder.
    public static func rpcMethods(of service: String) -> String { "\(prefix)/rpc/\(service)/+" }
    /// Where replies to one client's requests arrive; the ACL lets each client read only its own.
    public static func replies(clientID: String) -> String { "\(prefix)/reply/\(clientID)" }

    /// Signed door jobs for the devices of an area (never retained, always with a message expiry).
    public static func doorJobs(area: String) -> String { "\(prefix)/door/\(area)/jobs" }
    /// Signed confirms from the devices of an area.
    public static func doorConfirm(area: String) -> String { "\(prefix)/door/\(area)/confirm" }
    /// The confirms of every area, for the scheduler.
    public static let allDoorConfirms = "\(prefix)/door/+/confirm"
    /// Retained presence of a door device (the last will publishes `offline`).
    public static func deviceStatus(_ deviceID: String) -> String { "\(prefix)/device/\(deviceID)/status" }
    /// Asks one door device's client to drain and exit, for systemd to restart it.
    public static func deviceRestart(_ deviceID: String) -> String { "\(prefix)/device/\(deviceID)/cmd/restart" }
    /// Every device's presence, for the scheduler.
    public static let allDeviceStatuses = "\(prefix)/device/+/status"

    /// Audit entries of a service (or door device) without a database of its own, recorded by the api-gateway;
    /// the last level names who wrote it, and each account may write only its own (the ACL).
    public static func audit(_ writer: String) -> String { "\(prefix)/audit/\(writer)" }
    /// Every writer's audit entries, for the recorder.
    public static let allAudit = "\(prefix)/audit/+"
    /// Where replies to the requests of a client (and receipts for a device's confirms) go: the last level of a
    /// reply topic.
    public static let anyReplies = "\(prefix)/reply/+"

    /// Events for one ingest domain; the writer replies only after fsync.
    public static func ingest(domain: String) -> String { "\(prefix)/ingest/\(domain)" }
    /// Every ingest domain, for writers (inside a shared subscription when several run).
    public static let allIngest = "\(prefix)/ingest/+"
}
