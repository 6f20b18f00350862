import Foundation
import TestSupport

/// An ingest-writer started under `strace`: killed at a chosen system call (`inject=…:signal=SIGKILL`), with a call
/// made to fail (`inject=…:error=EIO`), or with its syncs recorded (`-o file`). Started by ``IngestStack``.
struct TracedWriter: Sendable {
    /// `strace` itself; it exits when the writer does, with the writer's status.
    let process: ChildProcess
    let port: Int
    let directory: URL

    var baseURL: String { "http://127.0.0.1:\(port)" }

    init(arguments: [String], writer: URL, environment: [String: String]) throws {
        port = Int(environment["LEITSTAND_HTTP_PORT"] ?? "") ?? 0
        directory = try makeTemporaryDirectory("traced-writer")
        process = try ChildProcess(
            name: "ingest-writer under strace",
            executable: URL(fileURLWithPath: "/usr/bin/strace"),
            arguments: arguments + ["--", writer.path],
            environment: environment,
            outputFile: directory.appendingPathComponent("output.log")
        )
    }

    /// SIGTERM to the writer (strace goes with it); SIGKILL to both if that does not end it. Removes its folder.
    func stop() async {
        let writer = (try? String(contentsOfFile: "/proc/\(process.pid)/task/\(process.pid)/children", encoding: .utf8))
            .flatMap { $0.split(separator: " ").first.flatMap { pid_t($0) } }
        if let writer { kill(writer, SIGTERM) }
        if (try? await process.waitForExit(timeout: .seconds(10))) == nil {
            if let writer { kill(writer, SIGKILL) }
            await process.stop()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}
