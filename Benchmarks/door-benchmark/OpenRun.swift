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
/// confirm before the next open (an area has one active job at a time). A 429 `door_in_use` right after a
/// confirm (the scheduler records it a moment later) is retried and counted.
enum OpenRun {
    struct Result: Sendable {
        var jobs: [OpenedJob]
        var elapsed: Duration
        var retries: Int
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
        let pulses = Mutex<[String: [Date]]>([:])
    }

    final class Budget: Sendable {
        let remaining: Atomic<Int>
        init(_ total: Int) { remaining = Atomic(total) }
        func take() -> Bool { remaining.subtract(1, ordering: .relaxed).newValue >= 0 }
    }

    static func overMQTT(areas: [String], opens: Int, http: BenchmarkHTTP, token: String, admin: MQTTClient) async throws -> Result {
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
        return try await drive(areas: areas, opens: opens, http: http, token: token) { id in await confirmations.wait(id) }
    }

    /// The seed's pull model: the benchmark is each area's device, polling every `interval`, "pulsing" (recording
    /// the time) and confirming each job it gets.
    static func overHTTPPoll(areas: [String], secrets: [String: String], opens: Int, interval: Duration, http: BenchmarkHTTP, token: String) async throws -> Result {
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
        var result = try await drive(areas: areas, opens: opens, http: http, token: token) { id in await confirmations.wait(id) }
        result.pulses = tally.pulses.withLock { $0 }
        return result
    }

    private static func drive(areas: [String], opens: Int, http: BenchmarkHTTP, token: String, waitForConfirm: @escaping @Sendable (String) async -> Void) async throws -> Result {
        let budget = Budget(opens)
        let tally = Tally()
        let headers = ["Authorization": "Bearer \(token)"]
        let started = ContinuousClock.now
        let jobs = try await withThrowingTaskGroup(of: [OpenedJob].self) { group in
            for area in areas {
                group.addTask {
                    var opened: [OpenedJob] = []
                    while budget.take() {
                        while true {
                            let sentAt = Date()
                            let response = try await http.send("POST", "/api/door/open/\(area)", headers: headers)
                            if response.status == 202, let id = response.json["jobId"] as? String {
                                opened.append(OpenedJob(id: id, sentAt: sentAt, acceptedAt: Date()))
                                await waitForConfirm(id)
                                break
                            }
                            guard response.status == 429, response.json["error"] as? String == "door_in_use" else {
                                throw BenchmarkError("open \(area) answered \(response.status) \(response.json)")
                            }
                            tally.retries.add(1, ordering: .relaxed)
                            try await Task.sleep(for: .milliseconds(2))
                        }
                    }
                    return opened
                }
            }
            var all: [OpenedJob] = []
            for try await opened in group { all += opened }
            return all
        }
        return Result(jobs: jobs, elapsed: ContinuousClock.now - started, retries: tally.retries.load(ordering: .relaxed))
    }
}
