import Contracts
import DoorCrypto
import Foundation
import Logging
import MQTT
import Metrics
import ServiceLifecycle
import Synchronization

/// Delivers the device's confirms end to end. libmosquitto's acknowledgement says only that the broker has a
/// confirm, not that the scheduler recorded it (the scheduler's client acknowledges before it has even seen it):
/// so each confirm is kept on disk (`pending-confirms` in the state directory) from the end of its pulse until the
/// scheduler's ``DoorConfirmReceipt`` arrives, and sent again (the scheduler records a repeat once) with a
/// growing pause, across restarts, for up to a day.
final class ConfirmDelivery: Service, Sendable {
    struct Pending: Codable, Sendable {
        var area: String
        var confirm: DoorConfirm
        var firstSentAt: Date
    }

    private struct Entry {
        var pending: Pending
        var attempts = 0
        var nextAttempt = ContinuousClock.now
    }

    /// How long one attempt waits for its receipt.
    static let receiptTimeout = Duration.seconds(5)
    /// How long the broker keeps a confirm for a scheduler that is away (its persistent session).
    static let keptInBroker = Duration.seconds(3_600)
    /// The longest pause between attempts.
    static let longestPause = Duration.seconds(60)
    /// After this the job is long expired and the operator has the device's log: the confirm is given up.
    static let givingUpAfter: TimeInterval = 86_400

    private let path: String
    private let client: MQTTClient
    /// The device's secrets: a receipt counts only when one of them signed it.
    private let secrets: [String]
    private let logger: Logger
    private let entries: Mutex<[String: Entry]>
    private let wakeUps: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let pendingGauge = Gauge(label: "leitstand_device_confirms_pending")

    /// Reads the confirms a previous run left without a receipt (they are sent first thing).
    init(directory: String, client: MQTTClient, secrets: [String], logger: Logger) throws {
        path = URL(fileURLWithPath: directory).appendingPathComponent("pending-confirms").path
        var loaded: [String: Entry] = [:]
        for line in try DurableFile.lines(at: path) {
            guard let pending = try? ContractCoding.decode(Pending.self, from: Data(line.utf8)) else {
                throw DurableFile.Unreadable(path: path, reason: "a damaged line: \(line.prefix(80))")
            }
            loaded[pending.confirm.jobId] = Entry(pending: pending)
        }
        entries = Mutex(loaded)
        self.client = client
        self.secrets = secrets
        self.logger = logger
        (wakeUps, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        pendingGauge.record(loaded.count)
    }

    var pendingCount: Int { entries.withLock { $0.count } }

    /// Keeps the confirm on disk, then has it sent at once.
    func deliver(_ confirm: DoorConfirm, area: String) throws {
        try change { $0[confirm.jobId] = Entry(pending: Pending(area: area, confirm: confirm, firstSentAt: Date())) }
        wake.yield()
    }

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wakeWhenDue() }
            // One iteration for the whole run: a task awaiting an AsyncStream that is cancelled ends the stream for
            // good, so racing each wait against a timer (as this did) made every later wait return at once and the
            // loop spin at full speed on an idle device.
            for await _ in wakeUps.cancelOnGracefulShutdown() {
                await sendDue()
            }
            group.cancelAll()
        }
    }

    /// Wakes the loop in `run()` when the next confirm is due again, and at least once a second.
    private func wakeWhenDue() async {
        while !Task.isCancelled {
            let next = entries.withLock { $0.values.map(\.nextAttempt).min() }
            let pause = next.map { max(.milliseconds(10), min(ContinuousClock.now.duration(to: $0), .seconds(1))) } ?? .seconds(1)
            do { try await Task.sleep(for: pause) } catch { return }
            wake.yield()
        }
    }

    private func sendDue() async {
        let now = ContinuousClock.now
        let due = entries.withLock { entries in
            let due = entries.values.filter { $0.nextAttempt <= now }.map(\.pending)
            // Not due again while its attempt waits for the receipt (a failure sets the real next attempt).
            for pending in due { entries[pending.confirm.jobId]?.nextAttempt = now + Self.receiptTimeout + .seconds(1) }
            return due
        }
        for pending in due { await send(pending) }
    }

    private func send(_ pending: Pending) async {
        let jobID = pending.confirm.jobId
        if Date().timeIntervalSince(pending.firstSentAt) > Self.givingUpAfter {
            logger.error("door confirm given up: no receipt for a day", metadata: ["job.id": "\(jobID)"])
            try? change { $0[jobID] = nil }
            return
        }
        do {
            let reply = try await client.request(
                Topic.doorConfirm(area: pending.area), payload: try ContractCoding.encode(pending.confirm),
                timeout: Self.receiptTimeout, messageExpiry: Self.keptInBroker
            )
            let receipt = try ContractCoding.decode(DoorConfirmReceipt.self, from: reply.payload)
            // Only the scheduler can sign a receipt with our secret: anything else ends nothing.
            guard receipt.jobId == jobID, receipt.hasValidSignature(secrets: secrets) else {
                throw ReceiptRefused(jobID: jobID)
            }
            if let error = receipt.error {
                let level: Logger.Level = error == DoorError.confirmTimeout.rawValue ? .warning : .error
                logger.log(level: level, "door confirm refused by the scheduler", metadata: ["job.id": "\(jobID)", "error": "\(error)"])
            } else {
                logger.info("door job confirmed", metadata: ["job.id": "\(jobID)", "result": "\(pending.confirm.result.rawValue)", "job.status": "\(receipt.status?.rawValue ?? "-")"])
            }
            try change { $0[jobID] = nil }
        } catch {
            let attempts = entries.withLock { entries -> Int in
                guard var entry = entries[jobID] else { return 0 }
                entry.attempts += 1
                let pause = min(Self.longestPause, .seconds(1 << min(entry.attempts, 6)))
                entry.nextAttempt = ContinuousClock.now + pause * Double.random(in: 0.8...1.0)
                entries[jobID] = entry
                return entry.attempts
            }
            Counter(label: "leitstand_device_confirm_retries_total").increment()
            let level: Logger.Level = attempts == 1 || attempts % 10 == 0 ? .warning : .debug
            logger.log(level: level, "door confirm has no receipt yet; sending it again later", metadata: ["job.id": "\(jobID)", "attempt": "\(attempts)", "error": "\(error)"])
        }
    }

    /// Applies a change to the pending confirms and writes them all to disk before anything else happens.
    private func change(_ body: (inout [String: Entry]) -> Void) throws {
        try entries.withLock { entries in
            body(&entries)
            let lines = try entries.values.map { entry -> Data in
                var line = try ContractCoding.encode(entry.pending)
                line.append(UInt8(ascii: "\n"))
                return line
            }
            try DurableFile.replace(path, with: lines.reduce(into: Data()) { $0.append($1) })
            pendingGauge.record(entries.count)
        }
    }
}

/// A reply to a confirm that is not the scheduler's receipt for it (another job's, or not signed with the device's
/// secret): the confirm stays pending.
struct ReceiptRefused: Error, CustomStringConvertible {
    var jobID: String
    var description: String { "the reply to the confirm of \(jobID) is not a receipt signed with this device's secret" }
}
