import Foundation
import GPIO
import Synchronization
import Testing

@testable import pi_door_client

@Suite("The door device's relay, seen jobs and GPIO configuration")
struct RelayTests {
    /// A relay whose line fails to switch, as a broken GPIO would.
    final class BrokenRelay: DoorRelay {
        func set(active: Bool) throws { if active { throw GPIOError("EIO") } }
        func pulseEnded(_ pulse: RelayPulse) {}
        func release() {}
    }

    static func simulated() throws -> (SimulatedRelay, URL) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pulses-\(UUID().uuidString).jsonl")
        return (try SimulatedRelay(path: file.path), file)
    }

    static func pulses(_ file: URL) throws -> [[String: Any]] {
        let text = try String(contentsOf: file, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
    }

    @Test("a second job during a pulse joins it and does not extend it; the relay ends inactive")
    func secondJobJoins() async throws {
        let (relay, file) = try Self.simulated()
        defer { try? FileManager.default.removeItem(at: file) }
        let controller = RelayController(relay: relay)
        let first = Task { await controller.pulse(jobID: "one", milliseconds: 600) }
        let deadline = ContinuousClock.now + .seconds(10)
        while !relay.isActive && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(relay.isActive)
        let second = await controller.pulse(jobID: "two", milliseconds: 600)
        guard case .pulsed(let firstEnd) = await first.value, case .joined(let secondEnd) = second else {
            Issue.record("expected a pulse and a join")
            return
        }
        // The same pulse ended both, and there was only one.
        #expect(firstEnd == secondEnd)
        #expect(!relay.isActive)
        let recorded = try Self.pulses(file)
        #expect(recorded.count == 1 && recorded.first?["jobId"] as? String == "one" && recorded.first?["pulseMs"] as? Int == 600)
        // Not extended: one pulse's length (plus a loaded machine's late wake-up), not two.
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        let started = try Date(try #require(recorded.first?["startedAt"] as? String), strategy: style)
        let ended = try Date(try #require(recorded.first?["endedAt"] as? String), strategy: style)
        #expect(ended.timeIntervalSince(started) < 1.1, "\(ended.timeIntervalSince(started)) s")
    }

    @Test("a pulse is capped at 10 s whatever the job asks")
    func cap() async throws {
        final class Recording: DoorRelay {
            let switched = Mutex<[Bool]>([])
            let lengths = Mutex<[Int]>([])
            func set(active: Bool) throws { switched.withLock { $0.append(active) } }
            func pulseEnded(_ pulse: RelayPulse) { lengths.withLock { $0.append(pulse.pulseMs) } }
            func release() {}
        }
        let relay = Recording()
        let controller = RelayController(relay: relay)
        // Asking for 0 ms still pulses (1 ms); the cap itself is checked on the recorded length.
        _ = await controller.pulse(jobID: "short", milliseconds: 0)
        #expect(relay.lengths.withLock { $0 } == [1])
        #expect(DeviceSettings.maximumPulseMs == 10_000)
        let task = Task { await controller.pulse(jobID: "long", milliseconds: 3_600_000) }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()  // a running pulse is not cut short by cancellation either
        _ = await task.value
        #expect(relay.lengths.withLock { $0 }.last == 10_000)
        #expect(relay.switched.withLock { $0 } == [true, false, true, false])
    }

    @Test("a GPIO write that fails is reported as a failed pulse and leaves the relay driven inactive")
    func brokenGPIO() async {
        let controller = RelayController(relay: BrokenRelay())
        guard case .failed(let reason) = await controller.pulse(jobID: "x", milliseconds: 10) else {
            Issue.record("a broken relay reported success")
            return
        }
        #expect(reason.contains("EIO"))
    }

    @Test("seen job ids survive a restart; a torn last line and long-expired ids are dropped when the file is compacted")
    func seenJobs() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("seen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let soon = Date().addingTimeInterval(30)
        do {
            let seen = try SeenJobs(directory: directory.path)
            #expect(try seen.insert("a", expiresAt: soon))
            #expect(try !seen.insert("a", expiresAt: soon))
            #expect(try seen.insert("b", expiresAt: Date().addingTimeInterval(-3 * 86_400)))
        }
        let file = directory.appendingPathComponent("seen-jobs")
        let handle = try FileHandle(forWritingTo: file)
        handle.seekToEndOfFile()
        handle.write(Data("c 17".utf8.prefix(3)))  // a power cut in the middle of a line
        try handle.close()
        let reopened = try SeenJobs(directory: directory.path)
        #expect(try !reopened.insert("a", expiresAt: soon))
        #expect(reopened.count == 1)
        #expect(try reopened.insert("c", expiresAt: soon))
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ").first.map(String.init) }
        #expect(lines == ["a", "c"])
    }

    @Test("LEITSTAND_GPIO names a line by chip and offset or by name, optionally active-low; anything else is a clear error")
    func lineSpecification() throws {
        #expect(try LibgpiodRelay.Line("chip=gpiochip0,line=17") == .init(address: .offset(chip: "gpiochip0", line: 17), activeLow: false))
        #expect(try LibgpiodRelay.Line("line-name=GPIO17, active-low") == .init(address: .name("GPIO17"), activeLow: true))
        for bad in ["", "chip=gpiochip0", "line=17", "chip=gpiochip0,line=x", "line-name=A,chip=gpiochip0,line=1", "pin=4"] {
            #expect(throws: GPIOError.self, "\(bad)") { try LibgpiodRelay.Line(bad) }
        }
        #expect(throws: GPIOError.self) { try DoorRelays.open("chip=gpiochip-that-does-not-exist,line=0", consumer: "test") }
        #expect(throws: GPIOError.self) { try DoorRelays.open("sim:", consumer: "test") }
    }
}
