import Foundation

/// The relay output of a door device. Implementations hold their line for the life of the process and drive it
/// inactive when made and when released.
public protocol DoorRelay: Sendable {
    /// Drives the relay active (`true`) or inactive (`false`).
    func set(active: Bool) throws
    /// Called once a pulse has ended, with what happened; the simulated relay records it.
    func pulseEnded(_ pulse: RelayPulse)
    /// Drives the line inactive and gives it back.
    func release()
}

/// One pulse as it happened.
public struct RelayPulse: Codable, Sendable, Equatable {
    public var jobId: String?
    public var startedAt: Date
    public var endedAt: Date
    public var pulseMs: Int

    public init(jobId: String?, startedAt: Date, endedAt: Date, pulseMs: Int) {
        self.jobId = jobId
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.pulseMs = pulseMs
    }
}

public struct GPIOError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Opens the relay `LEITSTAND_GPIO` names.
public enum DoorRelays {
    /// Parses `LEITSTAND_GPIO`: `sim:/path/pulses.jsonl`, or libgpiod's `chip=gpiochip0,line=17[,active-low]` /
    /// `line-name=GPIO17[,active-low]`.
    public static func open(_ specification: String, consumer: String) throws -> any DoorRelay {
        if specification.hasPrefix("sim:") {
            return try SimulatedRelay(path: String(specification.dropFirst(4)))
        }
        return try LibgpiodRelay(try LibgpiodRelay.Line(specification), consumer: consumer)
    }
}
