import Foundation
import ServiceKit
import TestSupport
import Testing

/// Where Leitstand is deployed, a service may open enough files for its HTTP connection cap and everything else:
/// at systemd's default (1 024) 1 100 idle connections took the gateway down, and the cap is lowered to half the
/// file limit, so the default cap needs at least twice its size (and room beyond it).
@Suite("File limits of the deployed services")
struct FileLimitTests {
    /// At least four times the default cap: half of the limit for connections, the rest for everything else.
    static let minimum = 4 * HTTPConnectionLimit.defaultMaximum

    func text(_ path: String) throws -> String {
        try String(contentsOf: ServiceProcess.repositoryRoot.appendingPathComponent(path), encoding: .utf8)
    }

    @Test("every systemd unit sets LimitNOFILE well above the connection cap (fails before: systemd's default 1 024)")
    func systemdUnits() throws {
        let directory = ServiceProcess.repositoryRoot.appendingPathComponent("deploy/systemd")
        let units = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".service") }
        #expect(units.count >= 2)
        for unit in units {
            let lines = try text("deploy/systemd/\(unit)").split(separator: "\n")
            let limits = lines.filter { $0.hasPrefix("LimitNOFILE=") }.compactMap { Int($0.dropFirst("LimitNOFILE=".count)) }
            #expect(limits.count == 1 && limits[0] >= Self.minimum, "\(unit): \(limits)")
        }
    }

    @Test("every Leitstand service in compose.yaml gets ulimits nofile well above the connection cap (fails before: the daemon's default)")
    func compose() throws {
        let compose = try text("compose.yaml")
        // The services share the `x-service` anchor, which ends where `services:` begins.
        let anchor = try #require(compose.range(of: "x-service: &service")).upperBound
        let end = try #require(compose.range(of: "\nservices:")).lowerBound
        let shared = compose[anchor..<end]
        let nofile = try #require(shared.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("nofile:") })
        let numbers = nofile.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        #expect(numbers.count == 2 && numbers.allSatisfy { $0 >= Self.minimum }, "\(nofile)")
        #expect(shared.contains("ulimits:"))
        for service in ["api-gateway", "ingest-writer", "door-scheduler"] {
            let start = try #require(compose.range(of: "\n  \(service):\n")).upperBound
            #expect(compose[start...].hasPrefix("    <<: *service"), "\(service) does not use the shared settings")
        }
    }
}
