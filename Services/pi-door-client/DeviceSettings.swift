import Foundation
import ServiceKit

/// The door device's configuration (`LEITSTAND_DEVICE_ID`, `…_SECRET`, `…_AREAS`, `LEITSTAND_GPIO`, …).
/// Its description leaves the secrets out: service descriptions end up in debug logs.
struct DeviceSettings: Sendable, CustomStringConvertible {
    /// The relay is never held longer than this, whatever a job asks.
    static let maximumPulseMs = 10_000

    var deviceID: String
    var secret: String
    /// During a rotation: the secret before `secret`, still accepted on jobs until the operator removes it.
    var previousSecret: String?
    var areas: [String]
    var gpio: String
    /// Where the ids of jobs already taken are kept across restarts.
    var stateDirectory: String
    /// Beyond this difference from the scheduler's clock the device warns (jobs expire by the clock).
    static let maximumClockSkew = Duration.seconds(2)

    var secrets: [String] { [secret] + (previousSecret.map { [$0] } ?? []) }

    var description: String {
        "DeviceSettings(deviceID: \(deviceID), areas: \(areas), gpio: \(gpio), stateDirectory: \(stateDirectory), secrets: <redacted>)"
    }

    static func read(_ reader: inout ConfigurationReader) -> DeviceSettings {
        let deviceID = reader.required("LEITSTAND_DEVICE_ID") ?? ""
        let secret = reader.secret("LEITSTAND_DEVICE_SECRET", minimumLength: 16) ?? ""
        let areas = Self.areas(reader.required("LEITSTAND_AREAS") ?? "")
        if areas.isEmpty && reader.optional("LEITSTAND_AREAS") != nil { reader.report("LEITSTAND_AREAS", "names no area (comma-separated, e.g. haus-a,keller)") }
        return DeviceSettings(
            deviceID: deviceID,
            secret: secret,
            previousSecret: reader.optional("LEITSTAND_DEVICE_SECRET_PREVIOUS"),
            areas: areas,
            gpio: reader.required("LEITSTAND_GPIO") ?? "",
            stateDirectory: reader.writableDirectory("LEITSTAND_STATE_DIR") ?? ""
        )
    }

    /// `LEITSTAND_AREAS`: comma-separated, blanks ignored.
    static func areas(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
