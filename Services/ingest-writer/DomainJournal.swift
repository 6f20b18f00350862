import Contracts
import Foundation
import NIOPosix
import Synchronization

/// Group commit for one domain: batches that arrive while a write is under way wait, and the next write takes all
/// of them with one sync. Writes run on the I/O thread pool, never on the tasks' cooperative threads (an fsync
/// blocks for milliseconds); different domains write, and sync, at the same time on different threads.
final class DomainJournal: Sendable {
    private struct Waiting {
        /// The batches of one message (one or more requests the gateway coalesced), answered together.
        var batches: [IngestBatch]
        /// When the gateway stops waiting for the answer: a group written after it would store events whose client
        /// was told 503, and whose retry (under a new id, without an `Idempotency-Key`) would be stored again.
        var deadline: Date
        var continuation: CheckedContinuation<IngestReply, Never>
    }

    /// What a message whose deadline passed while it waited for the disk is answered: nothing is written, and the
    /// consumer sends no reply (the gateway has answered 503 already).
    static let late = IngestReply.refused("late", message: "the request's deadline passed before the write")

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

    /// Returns once the batches' events are on disk (or a write failed); never throws, the reply says.
    func append(_ batches: [IngestBatch], deadline: Date) async -> IngestReply {
        await withCheckedContinuation { continuation in
            let startsWriting = queue.withLock { queue in
                queue.waiting.append(Waiting(batches: batches, deadline: deadline, continuation: continuation))
                defer { queue.isWriting = true }
                return !queue.isWriting
            }
            if startsWriting { pool.submit { _ in self.writeUntilDrained() } }
        }
    }

    /// One answer for a message: stored if every batch was, else the first refusal (the gateway fails the whole
    /// message; the retries of what was written are found as duplicates).
    private static func combine(_ replies: ArraySlice<IngestReply>) -> IngestReply {
        if let refusal = replies.first(where: { $0.error != nil }) { return refusal }
        return .stored(replies.reduce(0) { $0 + ($1.stored ?? 0) }, duplicates: replies.reduce(0) { $0 + ($1.duplicates ?? 0) })
    }

    /// Runs in the thread pool: writes groups until nothing waits.
    private func writeUntilDrained() {
        while true {
            let taken = queue.withLock { queue -> [Waiting] in
                defer { queue.waiting.removeAll(keepingCapacity: true) }
                if queue.waiting.isEmpty { queue.isWriting = false }
                return queue.waiting
            }
            guard !taken.isEmpty else { return }
            // The last moment to decide: whatever is written now is answered within a sync (milliseconds).
            let now = Date()
            for waiting in taken where waiting.deadline <= now { waiting.continuation.resume(returning: Self.late) }
            let group = taken.filter { $0.deadline > now }
            guard !group.isEmpty else { continue }
            let replies = files.withLock { $0.write(group.flatMap(\.batches)) }
            var next = replies.startIndex
            for waiting in group {
                let own = replies[next..<next + waiting.batches.count]
                next += waiting.batches.count
                waiting.continuation.resume(returning: Self.combine(own))
            }
        }
    }
}
