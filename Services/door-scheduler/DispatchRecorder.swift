import Contracts
import DoorStore
import Logging
import ServiceLifecycle
import Synchronization

/// Records `dispatched` for published jobs in batches: what was published within a few milliseconds, or while the
/// last batch was being written, goes into one statement, so recording costs no round trip per open. It is not on
/// the member's path: a job still `pending` is confirmed and expires just the same.
final class DispatchRecorder: Service, Sendable {
    private let ledger: DoorJobLedger
    private let logger: Logger
    private let published = Mutex<[DoorJob]>([])
    private let wakeUps: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init(ledger: DoorJobLedger, logger: Logger) {
        self.ledger = ledger
        self.logger = logger
        (wakeUps, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func record(_ job: DoorJob) {
        published.withLock { $0.append(job) }
        wake.yield()
    }

    /// How long a batch gathers after the first job of it was published.
    static let gathering = Duration.milliseconds(20)

    func run() async throws {
        for await _ in wakeUps.cancelOnGracefulShutdown() {
            try? await Task.sleep(for: Self.gathering)
            await flush()
        }
        // What the last requests published before the shutdown.
        await flush()
    }

    private func flush() async {
        let batch = published.withLock { jobs in
            defer { jobs.removeAll(keepingCapacity: true) }
            return jobs
        }
        guard !batch.isEmpty else { return }
        do {
            try await ledger.markDispatched(batch)
        } catch {
            logger.error("door jobs' dispatch not recorded", metadata: ["job.ids": "\(batch.map(\.jobId))", "error": "\(error)"])
        }
    }
}
