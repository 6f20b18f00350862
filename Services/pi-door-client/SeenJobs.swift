import Foundation
import Synchronization

/// The ids of jobs this device has taken, on disk (`seen-jobs` in the state directory, one `id expiresAt` per
/// line, fsync'd before the relay moves), so that neither a QoS 1 redelivery nor a restart pulses a job twice.
/// Ids whose job expired long ago are dropped when the file is compacted at start: such a job is refused anyway.
final class SeenJobs: Sendable {
    private struct State {
        var ids: Set<String>
        var file: FileHandle
    }

    private let state: Mutex<State>

    init(directory: String, now: Date = Date()) throws {
        let path = URL(fileURLWithPath: directory).appendingPathComponent("seen-jobs").path
        var kept: [(String, Int)] = []
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let horizon = Int(now.timeIntervalSince1970) - 86_400
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ")
                // A torn last line (power cut) has no expiry; it is dropped, the id was never pulsed for sure.
                guard parts.count == 2, let expires = Int(parts[1]) else { continue }
                if expires >= horizon { kept.append((String(parts[0]), expires)) }
            }
        }
        let compacted = kept.map { "\($0.0) \($0.1)\n" }.joined()
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(compacted.utf8)) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: temporary])
        }
        let descriptor = open(temporary, O_RDONLY)
        if descriptor >= 0 { fsync(descriptor); close(descriptor) }
        guard rename(temporary, path) == 0, let file = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        // The rename is durable only once the directory is synced; without it, a power cut could bring back the
        // old file and lose the ids appended (and synced) to the new one.
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY)
        guard directoryDescriptor >= 0, fsync(directoryDescriptor) == 0 else {
            if directoryDescriptor >= 0 { close(directoryDescriptor) }
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: directory])
        }
        close(directoryDescriptor)
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
