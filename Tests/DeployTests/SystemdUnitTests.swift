import Foundation
import TestSupport
import Testing

/// The systemd units under deploy/systemd, as `systemd-analyze verify` reads them. A setting in the wrong section
/// is only a warning to systemd, which then ignores it: pi-door-client.service had `StartLimitIntervalSec=0` under
/// [Service], so a door device would still have stopped restarting.
@Suite("systemd units (systemd-analyze verify)", .timeLimit(.minutes(1)))
struct SystemdUnitTests {
    static let analyzer = "/usr/bin/systemd-analyze"

    /// A copy of deploy/systemd whose ExecStart runs the built executables (verify wants them to exist), and the
    /// units to verify in it: every unit file, and the template once per service that has an environment example.
    func unitsToVerify(in directory: URL) throws -> [String] {
        let source = ServiceProcess.repositoryRoot.appendingPathComponent("deploy/systemd")
        let binaries = try projectExecutable("api-gateway").deletingLastPathComponent().path
        var units: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: source.path) {
            let target = directory.appendingPathComponent(name)
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: target)
            guard name.hasSuffix(".service") else { continue }
            let unit = try String(contentsOf: target, encoding: .utf8)
            #expect(unit.contains("ExecStart=/usr/local/bin/"), "\(name) does not start a binary from /usr/local/bin")
            try unit.replacingOccurrences(of: "ExecStart=/usr/local/bin/", with: "ExecStart=\(binaries)/")
                .write(to: target, atomically: true, encoding: .utf8)
            if !name.hasSuffix("@.service") { units.append(target.path) }
        }
        let instances = try FileManager.default.contentsOfDirectory(atPath: source.path)
            .filter { $0.hasSuffix(".env.example") }.map { String($0.dropLast(".env.example".count)) }
            .filter { !units.contains(directory.appendingPathComponent("\($0).service").path) }
        units += instances.map { directory.appendingPathComponent("leitstand@\($0).service").path }
        return units.sorted()
    }

    @Test("every unit, and the template for each server service, verifies without a warning")
    func verify() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.analyzer), "systemd-analyze is missing: install systemd")
        let directory = try makeTemporaryDirectory("systemd-units")
        defer { try? FileManager.default.removeItem(at: directory) }
        let units = try unitsToVerify(in: directory)
        #expect(units.contains { $0.hasSuffix("/pi-door-client.service") } && units.contains { $0.hasSuffix("/leitstand@ingest-writer.service") })
        let process = try ChildProcess(
            name: "systemd-analyze verify", executable: URL(fileURLWithPath: Self.analyzer), arguments: ["verify"] + units,
            environment: [:], outputFile: directory.appendingPathComponent("verify.log")
        )
        let code = try await process.waitForExit(timeout: .seconds(30))
        #expect(code == 0 && process.output.isEmpty, "systemd-analyze verify \(units.joined(separator: " ")):\n\(process.output)")
    }
}
