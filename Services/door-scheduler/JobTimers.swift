import DoorStore
import Foundation
import Logging
import ServiceLifecycle

/// Expires jobs the moment their confirm window closes (sleeping until the next one is due, at most a second,
/// so jobs made by other replicas are seen too), expires jobs that never reached the broker (a scheduler stopped
/// between commit and publish: its member was already told the open failed), and runs the daily housekeeping.
struct JobTimers: Service {
    let ledger: DoorJobLedger
    let retentionDays: Int
    let logger: Logger

    func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await expireOnTime() }
            group.addTask { await housekeepDaily() }
        }
    }

    private func expireOnTime() async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var wait = Duration.seconds(1)
            do {
                try await ledger.expireDue()
                try await ledger.expireUndispatched()
                if let next = try await ledger.nextExpiry() {
                    let seconds = min(max(next.timeIntervalSinceNow, 0.02), 1)
                    wait = .milliseconds(Int(seconds * 1_000))
                }
            } catch {
                logger.error("expiring door jobs failed", metadata: ["error": "\(error)"])
            }
            let sleep = wait
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: sleep) }
        }
    }

    private func housekeepDaily() async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let deleted = try await ledger.housekeeping(olderThan: .seconds(retentionDays * 86_400), actor: "door-scheduler")
                logger.info("door housekeeping", metadata: ["deleted": "\(deleted)", "retentionDays": "\(retentionDays)"])
            } catch {
                logger.error("door housekeeping failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(86_400)) }
        }
    }
}
