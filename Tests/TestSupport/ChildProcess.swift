import Foundation
import Synchronization

/// A program started by a test, with its output captured to a file, stopped by the test that started it.
///
/// Started with `posix_spawn` and a clean signal mask and default signal dispositions: the test runner's threads
/// block SIGTERM, and a child that inherits that mask (as with Foundation's `Process`) never sees a SIGTERM —
/// Mosquitto, for one, restores its inherited mask around its event loop.
public final class ChildProcess: Sendable {
    public let name: String
    public let outputFile: URL
    public let pid: pid_t
    private let exitStatus = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments` and exactly `environment` (plus PATH); `standardInput` is a file it
    /// reads as stdin (default: nothing).
    public init(
        name: String, executable: URL, arguments: [String] = [], environment: [String: String], outputFile: URL,
        standardInput: URL? = nil
    ) throws {
        self.name = name
        self.outputFile = outputFile
        var environment = environment
        environment["PATH"] = environment["PATH"] ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, standardInput?.path ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputFile.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable.path, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw TestSupportError("could not start \(executable.path): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    /// Reaps the child if it has exited; the status is that of `waitpid`.
    private func poll() -> Int32? {
        exitStatus.withLock { status in
            if status != nil { return status }
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid { status = raw }
            return status
        }
    }

    public var isRunning: Bool { poll() == nil }

    public var output: String { (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "" }

    /// The CPU time the process has used so far (user and system, from `/proc/<pid>/stat`); nil once it is gone.
    public var cpuTime: Duration? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let commandEnd = stat.lastIndex(of: ")") else { return nil }
        // After the command's closing parenthesis: state (field 3) first, so utime and stime (14, 15) are 11 and 12.
        let fields = stat[stat.index(after: commandEnd)...].split(separator: " ")
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return .milliseconds((user + system) * 1_000 / sysconf(Int32(_SC_CLK_TCK)))
    }

    public func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Waits for the process to exit and returns its exit code (128 + n when signal n ended it); fails after `timeout`.
    @discardableResult
    public func waitForExit(timeout: Duration = .seconds(15)) async throws -> Int32 {
        try await waitUntil("\(name) exited", timeout: timeout, interval: .milliseconds(20)) { !isRunning }
        let raw = poll() ?? 0
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }

    /// SIGTERM, then SIGKILL if it has not gone within `grace`.
    public func stop(grace: Duration = .seconds(5)) async {
        guard isRunning else { return }
        signal(SIGTERM)
        if (try? await waitForExit(timeout: grace)) == nil {
            signal(SIGKILL)
            _ = try? await waitForExit(timeout: .seconds(5))
        }
    }
}

/// Where `swift build` put the project's executables: `LEITSTAND_BIN_DIR`, else next to the test bundle.
public func projectExecutable(_ name: String) throws -> URL {
    var candidates: [URL] = []
    if let directory = ProcessInfo.processInfo.environment["LEITSTAND_BIN_DIR"] {
        candidates.append(URL(fileURLWithPath: directory))
    }
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    for _ in 0..<4 {
        url.deleteLastPathComponent()
        candidates.append(url)
    }
    for directory in candidates {
        let candidate = directory.appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    throw TestSupportError("no executable \(name) in \(candidates.map(\.path)); run `swift build` first or set LEITSTAND_BIN_DIR")
}
