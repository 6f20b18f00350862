import Foundation
import Synchronization

/// A relay for machines without GPIO: it keeps its state in memory and appends every finished pulse to a JSONL
/// file (`LEITSTAND_GPIO=sim:/path/pulses.jsonl`), one `RelayPulse` per line, so that tests and operators can see
/// exactly what a real relay would have done.
public final class SimulatedRelay: DoorRelay {
    private let file: Mutex<FileHandle>
    private let active = Atomic<Bool>(false)
    public let path: String

    public init(path: String) throws {
        guard !path.isEmpty else { throw GPIOError("sim: needs a file path, e.g. sim:/tmp/pulses.jsonl") }
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw GPIOError("cannot create the simulated relay's file \(path)")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw GPIOError("cannot open the simulated relay's file \(path)") }
        handle.seekToEndOfFile()
        self.path = path
        file = Mutex(handle)
    }

    public var isActive: Bool { active.load(ordering: .acquiring) }

    public func set(active: Bool) throws { self.active.store(active, ordering: .releasing) }

    private static let encoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    public func pulseEnded(_ pulse: RelayPulse) {
        guard var line = try? Self.encoder.encode(pulse) else { return }
        line.append(UInt8(ascii: "\n"))
        // Not fsync'd: a relay keeps no record, readers of the file see the write at once, and a sync per pulse
        // would make the simulated device cost more than a real one.
        file.withLock { handle in handle.write(line) }
    }

    public func release() { active.store(false, ordering: .releasing) }
}
