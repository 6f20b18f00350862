import Foundation
import Synchronization

/// The ids of jobs this device has taken, on disk (`seen-jobs` in the state directory, one `id expiresAt` per
/// line, fsync'd before the relay moves), so that neither a QoS 1 redelivery nor a restart pulses a job twice.
/// Ids whose job expired long ago are dropped when the file is compacted at start: such a job is refused anyway.
/// A file that cannot be read, or that has a damaged line other than a torn last one, stops the start-up
/// (``DurableFile/Unreadable``): an empty list would let a redelivered job pulse again.
final class SeenJobs: Sendable {
    private struct State {
        var ids: Set<String>
        var file: FileHandle
    }

    private let state: Mutex<State>

    init(directory: String, now: Date = Date()) throws {
        let path = URL(fileURLWithPath: directory).appendingPathComponent("seen-jobs").path
        var kept: [(String, Int)] = []
        let horizon = Int(now.timeIntervalSince1970) - 86_400
        for line in try DurableFile.lines(at: path) {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let expires = Int(parts[1]) else {
                throw DurableFile.Unreadable(path: path, reason: "a damaged line: \(line.prefix(80))")
            }
            if expires >= horizon { kept.append((String(parts[0]), expires)) }
        }
        try DurableFile.replace(path, with: Data(kept.map { "\($0.0) \($0.1)\n" }.joined().utf8))
        guard let file = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        file.seekToEndOfFile()
        state = Mutex(State(ids: Set(kept.map(\.0)), file: file))
    }

    /// Records `jobID` durably; false if it was already there (then nothing is written).
    func insert(_ jobID: String, expiresAt: Date) throws -> Bool {
        try state.withLock { state in
            guard !state.ids.contains(jobID) else { return false }
            try state.file.write(contentsOf: Data("\(jobID) \(Int(expiresAt.timeIntervalSince1970))\n".utf8))
            try state.file.synchronize()
            state.ids.insert(jobID)
            return true
        }
    }

    var count: Int { state.withLock { $0.ids.count } }
}
