import Contracts
import Foundation

/// One day file `{DATA_DIR}/{domain}/{YYYY-MM-DD}.jsonl`, open for appending.
///
/// Several writers may share a data directory (shared subscription): every append happens under an exclusive
/// `flock` of the file, and before it appends, a writer reads what others appended since its last look (their ids
/// go into its dedupe index) and cuts off a torn last line. So lines never interleave, and an id written by one
/// writer is a duplicate for all of them.
///
/// Nothing read from the file is trusted before it is on disk: what another writer appended may still be in the
/// page cache only (a writer killed between its `write()` and its `fdatasync`), and so may the file's directory
/// entry (a writer killed before it synced the folder of a file it created). See ``catchUp(_:)``.
///
/// Not thread-safe: a ``DomainFiles`` owns its files and uses them from one flush at a time.
final class DayFile {
    let path: String
    let day: String
    private let descriptor: Int32
    private let identity: (device: UInt64, inode: UInt64)
    /// Everything before this offset has been read (its ids indexed) or written by us; always a line boundary.
    private(set) var indexedSize: Int64 = 0
    /// The file is durable only once its directory entry is. Whoever created it may have died before syncing the
    /// folder, so every writer syncs it once, before it trusts what it reads or acknowledges what it appends.
    private var directoryToSync: String?

    private init(path: String, day: String, descriptor: Int32, identity: (UInt64, UInt64), directory: String) {
        self.path = path
        self.day = day
        self.descriptor = descriptor
        self.identity = identity
        self.directoryToSync = directory
    }

    deinit { close(descriptor) }

    /// Opens the file, creating it when `create` is set; nil when it does not exist and is not to be created.
    static func open(directory: String, day: String, create: Bool) throws(IngestIOError) -> DayFile? {
        let path = "\(directory)/\(day).jsonl"
        var descriptor = Glibc.open(path, O_RDWR | O_APPEND | O_CLOEXEC)
        if descriptor < 0 && errno == ENOENT {
            guard create else { return nil }
            descriptor = Glibc.open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
            // Another writer created it in between: open theirs.
            if descriptor < 0 && errno == EEXIST { descriptor = Glibc.open(path, O_RDWR | O_APPEND | O_CLOEXEC) }
        }
        guard descriptor >= 0 else { throw IngestIOError("open", path) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let error = IngestIOError("stat", path)
            close(descriptor)
            throw error
        }
        return DayFile(
            path: path,
            day: day,
            descriptor: descriptor,
            identity: (UInt64(status.st_dev), UInt64(status.st_ino)),
            directory: directory
        )
    }

    /// False when the path no longer names this file (an operator moved, rotated or restored it): appending to
    /// the old inode would write where nobody looks, so the caller opens the path again.
    var isStillAtPath: Bool {
        var status = stat()
        return stat(path, &status) == 0 && UInt64(status.st_dev) == identity.device && UInt64(status.st_ino) == identity.inode
    }

    /// Runs `body` holding the file's exclusive lock (waiting for another writer's append to finish).
    func withLock<Result>(_ body: () throws(IngestIOError) -> Result) throws(IngestIOError) -> Result {
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else { throw IngestIOError("lock", path) }
        }
        defer { flock(descriptor, LOCK_UN) }
        return try body()
    }

    /// Reads the lines appended since the last look and hands each line's id (its bytes) to `visit`, after syncing
    /// them: a writer killed between its `write()` and its `fdatasync` leaves lines in the page cache only, and an
    /// id taken from them answered a retry "already stored" although nothing was on disk (issue 10: after a power
    /// cut the file held 107 zero bytes where that event was). A partial last line can only be torn (appends happen
    /// whole, under the lock, which the caller holds): it is cut off, after a sync, so that the next append starts
    /// on a line of its own.
    func catchUp(_ visit: (UnsafeRawBufferPointer) -> Void) throws(IngestIOError) -> CatchUp {
        let size = try currentSize()
        guard size > indexedSize else {
            if size < indexedSize { indexedSize = size }  // truncated by someone else: nothing to read
            return CatchUp(readBytes: 0, tornBytes: 0)
        }
        // The lock keeps every live writer out, so everything up to `size` is synced by this one call.
        try syncContents()
        let start = indexedSize
        var offset = indexedSize  // where the buffer's first byte is in the file
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var filled = 0
        while offset + Int64(filled) < size {
            if filled == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }  // a line longer than the buffer
            let readAt = offset + Int64(filled)
            let wanted = min(buffer.count - filled, Int(size - readAt))
            let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + filled, wanted, off_t(readAt)) }
            guard count > 0 else {
                if count < 0 && errno == EINTR { continue }
                throw IngestIOError("read", path)
            }
            filled += count
            let consumed = buffer.withUnsafeBytes { bytes -> Int in
                var lineStart = 0
                while lineStart < filled, let found = memchr(bytes.baseAddress! + lineStart, 0x0A, filled - lineStart) {
                    let lineEnd = bytes.baseAddress!.distance(to: UnsafeRawPointer(found))
                    if let id = IngestRecord.idBytes(ofLine: UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd])) { visit(id) }
                    lineStart = lineEnd + 1
                }
                return lineStart
            }
            guard consumed > 0 else { continue }
            buffer.withUnsafeMutableBytes { bytes in
                _ = memmove(bytes.baseAddress!, bytes.baseAddress! + consumed, filled - consumed)
            }
            filled -= consumed
            offset += Int64(consumed)
        }
        indexedSize = offset
        if filled > 0 { try truncate(to: offset) }
        return CatchUp(readBytes: size - start, tornBytes: filled)
    }

    /// What ``catchUp(_:)`` found: bytes read (and synced before their ids were trusted), and of those the torn
    /// last line that was cut off.
    struct CatchUp {
        var readBytes: Int64
        var tornBytes: Int
    }

    /// Appends whole lines and syncs them (and, the first time, its directory entry). On any failure the file is cut
    /// back to where it was, so that no partial line stays and nothing unsynced is reported as written.
    func append(_ lines: [UInt8]) throws(IngestIOError) -> Duration {
        guard !lines.isEmpty else { return .zero }
        do throws(IngestIOError) {
            let failure = lines.withUnsafeBytes { buffer -> Int32? in
                var written = 0
                while written < buffer.count {
                    let count = write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                    if count < 0 {
                        if errno == EINTR { continue }
                        return errno
                    }
                    written += count
                }
                return nil
            }
            if let failure { throw IngestIOError("write", path, code: failure) }
            let started = ContinuousClock.now
            try syncContents()
            indexedSize += Int64(lines.count)
            return ContinuousClock.now - started
        } catch {
            try? truncate(to: indexedSize)
            throw error
        }
    }

    /// Bytes appended since the last look (by another writer, or before this writer started).
    var unreadBytes: Int64 {
        get throws(IngestIOError) { try currentSize() - indexedSize }
    }

    private func currentSize() throws(IngestIOError) -> Int64 {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw IngestIOError("stat", path) }
        return Int64(status.st_size)
    }

    /// Everything in the file is on disk, and (once) its directory entry.
    private func syncContents() throws(IngestIOError) {
        guard fdatasync(descriptor) == 0 else { throw IngestIOError("fdatasync", path) }
        if let directory = directoryToSync {
            try Self.syncDirectory(directory)
            directoryToSync = nil
        }
    }

    private func truncate(to size: Int64) throws(IngestIOError) {
        guard ftruncate(descriptor, off_t(size)) == 0 else { throw IngestIOError("truncate", path) }
        guard fdatasync(descriptor) == 0 else { throw IngestIOError("fdatasync", path) }
    }

    static func syncDirectory(_ path: String) throws(IngestIOError) {
        let descriptor = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw IngestIOError("open", path) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw IngestIOError("fsync", path) }
    }

    /// Cuts a torn last line off a file that is not open (start-up check of every day file). Reads backwards
    /// from the end only as far as the last line feed. Returns the number of bytes cut off.
    static func repairTornTail(path: String) throws(IngestIOError) -> Int {
        let descriptor = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw IngestIOError("open", path) }
        defer { close(descriptor) }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else { throw IngestIOError("lock", path) }
        }
        defer { flock(descriptor, LOCK_UN) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw IngestIOError("stat", path) }
        let size = Int64(status.st_size)
        var end = size
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while end > 0 {
            let start = max(0, end - Int64(buffer.count))
            let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, Int(end - start), off_t(start)) }
            guard count == Int(end - start) else { throw IngestIOError("read", path) }
            if let newline = buffer[0..<count].lastIndex(of: UInt8(ascii: "\n")) {
                end = start + Int64(newline) + 1
                break
            }
            end = start
        }
        guard end < size else { return 0 }
        guard ftruncate(descriptor, off_t(end)) == 0 else { throw IngestIOError("truncate", path) }
        guard fdatasync(descriptor) == 0 else { throw IngestIOError("fdatasync", path) }
        return Int(size - end)
    }
}
