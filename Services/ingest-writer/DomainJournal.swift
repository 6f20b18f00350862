import Contracts
import NIOPosix
import Synchronization

/// Group commit for one domain: batches that arrive while a write is under way wait, and the next write takes all
/// of them with one sync. Writes run on the I/O thread pool, never on the tasks' cooperative threads (an fsync
/// blocks for milliseconds); different domains write, and sync, at the same time on different threads.
final class DomainJournal: Sendable {
    private struct Waiting {
        var batch: IngestBatch
        var continuation: CheckedContinuation<IngestReply, Never>
    }

    private struct Queue {
        var waiting: [Waiting] = []
        var isWriting = false
    }

    let domain: String
    private let queue = Mutex(Queue())
    /// Only the one running write uses the files, so this lock is never contended; it makes that rule checkable.
    private let files: Mutex<DomainFiles>
    private let pool: NIOThreadPool

    init(files: sending DomainFiles, pool: NIOThreadPool) {
        self.domain = files.domain
        self.files = Mutex(files)
        self.pool = pool
    }

    /// Returns once the batch's events are on disk (or the write failed); never throws, the reply says.
    func append(_ batch: IngestBatch) async -> IngestReply {
        await withCheckedContinuation { continuation in
            let startsWriting = queue.withLock { queue in
                queue.waiting.append(Waiting(batch: batch, continuation: continuation))
                defer { queue.isWriting = true }
                return !queue.isWriting
            }
            if startsWriting { pool.submit { _ in self.writeUntilDrained() } }
        }
    }

    /// Runs in the thread pool: writes groups until nothing waits.
    private func writeUntilDrained() {
        while true {
            let group = queue.withLock { queue -> [Waiting] in
                defer { queue.waiting.removeAll(keepingCapacity: true) }
                if queue.waiting.isEmpty { queue.isWriting = false }
                return queue.waiting
            }
            guard !group.isEmpty else { return }
            let replies = files.withLock { $0.write(group.map(\.batch)) }
            for (waiting, reply) in zip(group, replies) { waiting.continuation.resume(returning: reply) }
        }
    }
}
