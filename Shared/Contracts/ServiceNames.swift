/// The names of Leitstand's services and operator accounts on the broker. A door device's id is its broker account:
/// a device named like a service (or a replica's account, `{service}-2`) would take that service's account and
/// rights, so such names are refused.
public enum ServiceNames {
    public static let services = [
        "api-gateway", "door-scheduler", "pi-door-client", "ingest-writer", "pdf-archiver", "plc-bridge", "stream-watchdog",
    ]
    public static let operatorAccounts = ["leitstand-admin", "leitstand-watch"]

    /// Whether a door device may not be called `name`.
    public static func isReservedForServices(_ name: String) -> Bool {
        name.hasPrefix("leitstand") || services.contains { name == $0 || name.hasPrefix("\($0)-") }
    }
}
