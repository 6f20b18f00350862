// What each of the writer's durability steps costs on the file system of a directory, one system call at a time
// (docs/ingest.md, "What a 200 promises"). Run it on the data directory's file system:
//
//   swiftc -O Benchmarks/ingest-benchmark/sync-costs.swift -o /tmp/sync-costs && /tmp/sync-costs "$LEITSTAND_DATA_DIR" [ROUNDS]
//
// Prints the median and the 99th percentile of: an append of one 177-byte line with its fdatasync (what every
// group pays); an fdatasync of lines another process appended and already synced (the catch-up sync that a writer
// pays when another writer appended since its last look); the same for lines nobody synced (after a writer was
// killed between write() and fdatasync); an fsync of a folder (a day file's or domain folder's entry, once per file
// and writer); a new file with its folder's fsync; and the domain folder's flock and unlock (every group).
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: sync-costs DIRECTORY [ROUNDS]\n".utf8))
    exit(2)
}
let rounds = arguments.count > 2 ? Int(arguments[2]) ?? 1_000 : 1_000
let directory = "\(arguments[1])/sync-costs-\(getpid())"
guard mkdir(directory, 0o750) == 0 else { fatalError("mkdir \(directory): \(String(cString: strerror(errno)))") }
defer { _ = try? FileManager.default.removeItem(atPath: directory) }

func check(_ result: Int32, _ what: String) {
    if result != 0 { fatalError("\(what): \(String(cString: strerror(errno)))") }
}

/// Runs `body` `rounds` times (after `prepare`, which is not timed) and prints the median and the 99th percentile.
func measure(_ name: String, prepare: () -> Void = {}, _ body: () -> Void) {
    var samples: [Duration] = []
    samples.reserveCapacity(rounds)
    for _ in 0..<rounds {
        prepare()
        let started = ContinuousClock.now
        body()
        samples.append(ContinuousClock.now - started)
    }
    samples.sort()
    let format = { (duration: Duration) in String(format: "%7.3f ms", Double(duration / .nanoseconds(1)) / 1e6) }
    print("\(name.padding(toLength: 58, withPad: " ", startingAt: 0)) p50 \(format(samples[rounds / 2]))  p99 \(format(samples[rounds * 99 / 100]))")
}

let line = [UInt8](repeating: UInt8(ascii: "x"), count: 176) + [UInt8(ascii: "\n")]
let path = "\(directory)/day.jsonl"
let file = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
let other = open(path, O_RDWR | O_APPEND | O_CLOEXEC)  // another writer's descriptor of the same file
let folder = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
guard file >= 0, other >= 0, folder >= 0 else { fatalError("open: \(String(cString: strerror(errno)))") }
let append = { (descriptor: Int32) in
    guard line.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) == line.count else { fatalError("write") }
}

print("sync-costs: \(rounds) rounds in \(arguments[1])")
measure("append one line + fdatasync (every group)") {
    append(file)
    check(fdatasync(file), "fdatasync")
}
measure("catch-up fdatasync, the other writer had synced", prepare: {
    append(other)
    check(fdatasync(other), "fdatasync")
}) {
    check(fdatasync(file), "fdatasync")
}
measure("catch-up fdatasync, nobody had synced (a killed writer)", prepare: { append(other) }) {
    check(fdatasync(file), "fdatasync")
}
measure("fsync of a folder (a file's entry, once per file)") {
    check(fsync(folder), "fsync")
}
var created = 0
measure("create a file + fsync of its folder (a new day file)") {
    created += 1
    let descriptor = open("\(directory)/new-\(created).jsonl", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
    guard descriptor >= 0 else { fatalError("create: \(String(cString: strerror(errno)))") }
    close(descriptor)
    check(fsync(folder), "fsync")
}
measure("flock + unlock of the domain folder (every group)") {
    check(flock(folder, LOCK_EX), "flock")
    check(flock(folder, LOCK_UN), "flock")
}
