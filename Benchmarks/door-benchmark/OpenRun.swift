import Contracts
import Foundation
import MQTT
import Synchronization

/// One accepted open as the member saw it.
struct OpenedJob: Sendable {
    var id: String
    var sentAt: Date
    var acceptedAt: Date
}

/// Opens doors from one worker per area until `opens` were accepted, each worker waiting for its door's
/// confirm before the next open (an area has one active job at a time). Unpaced, every worker opens again at once
/// (the most the stack can do); paced, the workers together open `rate` times a second, each on its own schedule
/// (the latency a building sees at that load). A 429 `door_in_use` (the scheduler records a confirm a moment
/// after the device sent it) is retried and counted.
enum OpenRun {
    struct Result: Sendable {
        var jobs: [OpenedJob]
        /// One unmeasured open per area before the clock starts.
        var warmUp: [String]
        var elapsed: Duration
        var retries: Int
        /// Paced opens sent more than 5 ms after their planned time (the stack could not keep up).
        var late: Int
        var pulses: [String: [Date]] = [:]
    }

    /// Confirms by job id as they arrive, for the worker that waits for them (which may come later).
    final class Confirmations: Sendable {
        private struct State {
            var arrived: Set<String> = []
            var waiting: [String: CheckedContinuation<Void, Never>] = [:]
        }
        private let state = Mutex(State())

        func arrived(_ id: String) {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if let waiter = state.waiting.removeValue(forKey: id) { return waiter }
                state.arrived.insert(id)
                return nil
            }
            waiter?.resume()
        }

        func wait(_ id: String) async {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if state.arrived.remove(id) != nil { return true }
                    state.waiting[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }

    /// Shared between the tasks of a run.
    final class Tally: Sendable {
        let retries = Atomic<Int>(0)
        let late = Atomic<Int>(0)
        let pulses = Mutex<[String: [Date]]>([:])
    }

    final class Budget: Sendable {
        let remaining: Atomic<Int>
        init(_ total: Int) { remaining = Atomic(total) }
        func take() -> Bool { remaining.subtract(1, ordering: .relaxed).newValue >= 0 }
    }

    static func overMQTT(areas: [String], opens: Int, rate: Double?, http: BenchmarkHTTP, tokens: [String: String], admin: MQTTClient) async throws -> Result {
        // Paced, the schedule spaces an area's opens; watching the confirms as well would only load the machine.
        // A job not finished by the area's next turn shows as a door_in_use retry.
        if rate != nil { return try await drive(areas: areas, opens: opens, rate: rate, http: http, tokens: tokens) { _, _ in } }
        let confirmations = Confirmations()
        let confirms = try await admin.subscribe(Topic.allDoorConfirms)
        let watcher = Task {
            for await message in confirms {
                if let confirm = try? ContractCoding.decode(DoorConfirm.self, from: message.payload) { confirmations.arrived(confirm.jobId) }
            }
        }
        defer {
            watcher.cancel()
            confirms.cancel()
        }
        return try await drive(areas: areas, opens: opens, rate: rate, http: http, tokens: tokens) { id, _ in await confirmations.wait(id) }
    }

    /// The seed's pull model: the benchmark is each area's device, polling every `interval`, "pulsing" (recording
    /// the time) and confirming each job it gets.
    static func overHTTPPoll(areas: [String], secrets: [String: String], opens: Int, interval: Duration, http: BenchmarkHTTP, tokens: [String: String]) async throws -> Result {
        let confirmations = Confirmations()
        let tally = Tally()
        let polling = Task {
            await withDiscardingTaskGroup { group in
                for area in areas {
                    group.addTask {
                        let headers = ["X-Device-Secret": secrets[area]!]
                        // Devices do not poll in step: each starts at its own phase.
                        try? await Task.sleep(for: .milliseconds(Int.random(in: 0..<Int(interval.components.seconds * 1_000 + interval.components.attoseconds / 1_000_000_000_000_000))))
                        while !Task.isCancelled {
                            let next = ContinuousClock.now + interval
                            if let polled = try? await http.send("GET", "/api/device/poll/\(area)", headers: headers),
                               let jobs = polled.json["jobs"] as? [[String: Any]] {
                                for job in jobs {
                                    guard let id = job["jobId"] as? String, let nonce = job["nonce"] as? String else { continue }
                                    tally.pulses.withLock { $0[id, default: []].append(Date()) }
                                    let body = try? JSONSerialization.data(withJSONObject: ["deviceId": area, "nonce": nonce, "result": "executed", "message": "pulsed"])
                                    if let confirmed = try? await http.send("POST", "/api/device/confirm/\(id)", body: body, headers: headers), confirmed.status == 200 {
                                        confirmations.arrived(id)
                                    }
                                }
                            }
                            try? await Task.sleep(until: next)
                        }
                    }
                }
            }
        }
        defer { polling.cancel() }
        // The first polls make the devices present.
        try await Task.sleep(for: interval + .milliseconds(200))
        var result = try await drive(areas: areas, opens: opens, rate: nil, http: http, tokens: tokens) { id, _ in await confirmations.wait(id) }
        result.pulses = tally.pulses.withLock { $0 }
        return result
    }

    private static func drive(
        areas: [String], opens: Int, rate: Double?, http: BenchmarkHTTP, tokens: [String: String],
        waitForConfirm: @escaping @Sendable (_ jobID: String, _ area: String) async -> Void
    ) async throws -> Result {
        let budget = Budget(opens)
        let tally = Tally()
        /// Opens `area` until it is accepted and confirmed. While warming up, `door_offline` is waited out too:
        /// the scheduler may see a device's retained status a moment after the benchmark did.
        @Sendable func openOnce(_ area: String, warmingUp: Bool) async throws -> OpenedJob {
            let deadline = ContinuousClock.now + .seconds(30)
            var backoff = Duration.milliseconds(2)
            let sentAt = Date()
            while true {
                let response = try await http.send("POST", "/api/door/open/\(area)", headers: ["Authorization": "Bearer \(tokens[area] ?? "")"])
                if response.status == 202, let id = response.json["jobId"] as? String {
                    let job = OpenedJob(id: id, sentAt: sentAt, acceptedAt: Date())
                    await waitForConfirm(id, area)
                    return job
                }
                let error = response.json["error"] as? String
                guard error == "door_in_use" || (warmingUp && error == "door_offline" && ContinuousClock.now < deadline) else {
                    throw BenchmarkError("open \(area) answered \(response.status) \(response.json)")
                }
                if !warmingUp { tally.retries.add(1, ordering: .relaxed) }
                // The confirm reached us; the scheduler records it a moment later. Ask again soon, not in a storm.
                try await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .milliseconds(50))
            }
        }
        let warmUp = try await withThrowingTaskGroup(of: String.self) { group in
            for area in areas { group.addTask { try await openOnce(area, warmingUp: true).id } }
            var ids: [String] = []
            for try await id in group { ids.append(id) }
            return ids
        }
        // Paced: each worker opens every `period`, starting at its own phase, so that the opens spread evenly.
        let period = rate.map { Duration.nanoseconds(Int64(Double(areas.count) / $0 * 1e9)) }
        let started = ContinuousClock.now
        let jobs = try await withThrowingTaskGroup(of: [OpenedJob].self) { group in
            for (index, area) in areas.enumerated() {
                group.addTask {
                    var opened: [OpenedJob] = []
                    var planned = started + (period.map { $0 * Double(index) / Double(areas.count) } ?? .zero)
                    while budget.take() {
                        if let period {
                            if ContinuousClock.now < planned {
                                try await Task.sleep(until: planned)
                            } else if ContinuousClock.now - planned > .milliseconds(5) {
                                tally.late.add(1, ordering: .relaxed)
                            }
                            planned += period
                        }
                        opened.append(try await openOnce(area, warmingUp: false))
                    }
                    return opened
                }
            }
            var all: [OpenedJob] = []
            for try await opened in group { all += opened }
            return all
        }
        return Result(
            jobs: jobs, warmUp: warmUp, elapsed: ContinuousClock.now - started, retries: tally.retries.load(ordering: .relaxed),
            late: tally.late.load(ordering: .relaxed)
        )
    }
}
