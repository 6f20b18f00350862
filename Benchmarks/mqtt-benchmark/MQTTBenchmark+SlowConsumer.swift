import Foundation
import Logging
import MQTT
import Synchronization

extension MQTTBenchmark {
    /// A publisher sends `messages` QoS 1 messages of 1 KB in batches of 500, each awaited, as fast as the broker takes
    /// them; one subscriber takes them at about 10 000/s (a millisecond's pause every ten). Prints the process's peak
    /// resident memory (both clients are in it): what the subscriber buffers shows there.
    func measureSlowConsumer(messages: Int, configuration: MQTTConfiguration, run: String, logger: Logger) async throws {
        let subscriber = try await Self.connectedClient("bench-slow-\(run)", configuration, session: .persistent(expiry: .seconds(600)), logger: logger)
        let publisher = try await Self.connectedClient("bench-flood-\(run)", configuration, logger: logger)
        let topic = "bench/\(run)/slow"
        let subscription = try await subscriber.subscribe(topic)
        let received = Atomic<Int>(0)
        let consuming = Task {
            for await _ in subscription {
                if received.add(1, ordering: .relaxed).newValue.isMultiple(of: 10) { try? await Task.sleep(for: .milliseconds(1)) }
            }
        }
        while received.load(ordering: .relaxed) == 0 {
            try await publisher.publish(topic, payload: Data("warm-up".utf8))
            try await Task.sleep(for: .milliseconds(10))
        }
        let baseline = received.load(ordering: .relaxed)
        let residentBefore = Self.memory("VmRSS")
        let clock = ContinuousClock()
        let started = clock.now
        let batch = [MQTTOutgoingMessage](repeating: MQTTOutgoingMessage(topic: topic, payload: Data(repeating: 0x61, count: 1_000)), count: 500)
        for _ in 0..<(messages / 500) { try await publisher.publish(batch: batch) }
        let published = clock.now - started
        let expected = messages / 500 * 500
        while received.load(ordering: .relaxed) - baseline < expected && clock.now - started < .seconds(600) {
            try await Task.sleep(for: .milliseconds(10))
        }
        let consumed = clock.now - started
        print("slow consumer: \(expected) QoS 1 messages of 1 KB, published in \(String(format: "%.1f", published.seconds)) s, consumed in \(String(format: "%.1f", consumed.seconds)) s")
        print("  received \(received.load(ordering: .relaxed) - baseline) of \(expected)")
        print("  resident memory: \(residentBefore / 1_024) MB before, peak \(Self.memory("VmHWM") / 1_024) MB")
        consuming.cancel()
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// A line of /proc/self/status in kB (`VmRSS`, `VmHWM`).
    static func memory(_ field: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("\(field):") }
        return line.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
    }
}
