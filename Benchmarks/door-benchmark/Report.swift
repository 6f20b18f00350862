import Foundation

/// The figures of one run, and the check that nothing was lost or done twice.
struct Report {
    var name: String
    var jobs: [OpenedJob]
    var warmUp: [String]
    var pulses: [String: [Date]]
    var executed: [String: Date]
    var elapsed: Duration
    var retries: Int
    var late: Int

    init(name: String, result: OpenRun.Result, pulses: [String: [Date]], executed: [String: Date]) {
        self.name = name
        self.jobs = result.jobs
        self.warmUp = result.warmUp
        self.pulses = pulses
        self.executed = executed
        self.elapsed = result.elapsed
        self.retries = result.retries
        self.late = result.late
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }

    func line(_ label: String, _ milliseconds: [Double]) -> String {
        String(format: "  %@  p50 %8.2f ms   p99 %8.2f ms   max %8.2f ms   (n=%d)", label.padding(toLength: 26, withPad: " ", startingAt: 0),
               Self.percentile(milliseconds, 0.5), Self.percentile(milliseconds, 0.99), milliseconds.max() ?? .nan, milliseconds.count)
    }

    func print() {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        Swift.print("\(name): \(jobs.count) opens in \(String(format: "%.2f", seconds)) s = \(String(format: "%.1f", Double(jobs.count) / seconds)) opens/s (door_in_use retries: \(retries), sent late: \(late))")
        let toPulse = jobs.compactMap { job in pulses[job.id]?.first.map { $0.timeIntervalSince(job.acceptedAt) * 1_000 } }
        let sentToPulse = jobs.compactMap { job in pulses[job.id]?.first.map { $0.timeIntervalSince(job.sentAt) * 1_000 } }
        let toExecuted = jobs.compactMap { job in executed[job.id].map { $0.timeIntervalSince(job.acceptedAt) * 1_000 } }
        let sentToExecuted = jobs.compactMap { job in executed[job.id].map { $0.timeIntervalSince(job.sentAt) * 1_000 } }
        Swift.print(line("202 → pulse", toPulse))
        Swift.print(line("202 → executed", toExecuted))
        Swift.print(line("request sent → pulse", sentToPulse))
        Swift.print(line("request sent → executed", sentToExecuted))
    }

    func verify() throws {
        let accepted = Set(jobs.map(\.id))
        let known = accepted.union(warmUp)
        let twice = pulses.filter { $0.value.count > 1 }.count
        let unknownPulses = pulses.keys.filter { !known.contains($0) }.count
        let notPulsed = accepted.filter { pulses[$0] == nil }.count
        let notExecuted = accepted.filter { executed[$0] == nil }.count
        Swift.print("  checked: \(accepted.count) accepted, \(notPulsed) not pulsed, \(twice) pulsed twice, \(unknownPulses) pulses of unknown jobs, \(notExecuted) not executed")
        guard twice == 0, unknownPulses == 0, notPulsed == 0, notExecuted == 0, accepted.count == jobs.count else {
            throw BenchmarkError("\(name): jobs were lost or pulsed twice")
        }
    }
}
