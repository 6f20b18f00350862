import Foundation

/// The device's small state files (seen job ids, confirms awaiting their receipt), read at start and replaced or
/// appended to durably: a door device's power is cut without warning.
enum DurableFile {
    struct Unreadable: Error, CustomStringConvertible {
        var path: String
        var reason: String
        var description: String { "\(path) cannot be read (\(reason)); the device refuses to start rather than risk a second pulse for a job it took already: check the file, or move it away if the device may forget every job it took" }
    }

    /// The file's lines, or none when it does not exist. A last line without its line feed was torn by a power cut
    /// in the middle of an append (an append is synced before anything depends on it) and is left out. Any other
    /// failure throws ``Unreadable``: starting with an empty state would forget what the file says.
    static func lines(at path: String) throws -> [Substring] {
        var status = stat()
        if lstat(path, &status) != 0 && errno == ENOENT { return [] }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw Unreadable(path: path, reason: "\(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw Unreadable(path: path, reason: "not UTF-8 text") }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeLast()  // after the last line feed: empty, or a torn line
        return lines
    }

    /// Replaces the file with `contents`: written to a temporary file, synced, renamed over it, and the directory
    /// synced (without that, a power cut could bring back the old file).
    static func replace(_ path: String, with contents: Data) throws {
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: contents) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: temporary])
        }
        try sync(temporary, directory: false)
        guard rename(temporary, path) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        try sync(URL(fileURLWithPath: path).deletingLastPathComponent().path, directory: true)
    }

    private static func sync(_ path: String, directory: Bool) throws {
        let descriptor = open(path, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY)
        guard descriptor >= 0 else { throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: path]) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
    }
}
