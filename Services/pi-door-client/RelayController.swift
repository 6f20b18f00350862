import Foundation
import GPIO

/// Pulses the relay one job at a time. A job that arrives while a pulse runs joins it (the door is open right
/// now) and never extends it; every pulse ends inactive, also when it fails half-way.
actor RelayController {
    enum Outcome: Sendable, Equatable {
        case pulsed(endedAt: Date)
        case joined(endedAt: Date)
        case failed(String)
    }

    private let relay: any DoorRelay
    private var running: Task<Outcome, Never>?

    init(relay: any DoorRelay) {
        self.relay = relay
    }

    func pulse(jobID: String?, milliseconds: Int) async -> Outcome {
        if let running {
            switch await running.value {
            case .pulsed(let endedAt), .joined(let endedAt): return .joined(endedAt: endedAt)
            case .failed(let reason): return .failed(reason)
            }
        }
        let length = min(max(milliseconds, 1), DeviceSettings.maximumPulseMs)
        let relay = self.relay
        let task = Task<Outcome, Never> {
            let startedAt = Date()
            do {
                try relay.set(active: true)
            } catch {
                try? relay.set(active: false)
                return .failed("\(error)")
            }
            // Not cancellable: once the relay is on it stays on for exactly its length, then goes off.
            try? await Task.sleep(for: .milliseconds(length))
            do {
                try relay.set(active: false)
            } catch {
                return .failed("\(error)")
            }
            let endedAt = Date()
            relay.pulseEnded(RelayPulse(jobId: jobID, startedAt: startedAt, endedAt: endedAt, pulseMs: length))
            return .pulsed(endedAt: endedAt)
        }
        running = task
        let outcome = await task.value
        running = nil
        return outcome
    }

    func release() { relay.release() }
}
