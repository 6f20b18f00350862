import Foundation
import Synchronization

/// Waits until `condition` holds, checking every `interval`, and fails with `description` after `timeout`.
/// For state that another process changes (a broker restarting, a service exiting), where nothing can notify us.
public func waitUntil(
    _ description: String,
    timeout: Duration = .seconds(10),
    interval: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: interval)
    }
    if try await condition() { return }
    throw TestSupportError("timed out after \(timeout) waiting until \(description)")
}

public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A TCP port on 127.0.0.1 that is free now, chosen below the kernel's ephemeral range: a broker restarted on
/// its port must not find it taken by some client's outgoing connection in the meantime. A port is handed out
/// once per test run: two parallel tests that both found a port free before either bound it would otherwise
/// share it, and one's requests would reach the other's service (its health check passes for the wrong process).
public func freeTCPPort() throws -> Int {
    let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
        .split(whereSeparator: \.isWhitespace).compactMap { Int($0) } ?? []
    let ephemeralStart = range.first ?? 32768
    for _ in 0..<200 {
        let port = Int.random(in: 10_000..<max(ephemeralStart, 10_001))
        guard handedOutPorts.withLock({ $0.insert(port).inserted }) else { continue }
        if canBind(port: port) { return port }
    }
    throw TestSupportError("no free TCP port below \(ephemeralStart)")
}

private let handedOutPorts = Mutex<Set<Int>>([])

private func canBind(port: Int) -> Bool {
    LoopbackSocket.succeeds(port: port) { descriptor, address, length in bind(descriptor, address, length) == 0 }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
public func isListening(port: Int) -> Bool {
    LoopbackSocket.succeeds(port: port) { descriptor, address, length in connect(descriptor, address, length) == 0 }
}

/// A fresh private directory, removed by the caller.
public func makeTemporaryDirectory(_ prefix: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A random password for a test user.
public func randomSecret() -> String {
    String((0..<24).map { _ in "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789".randomElement()! })
}
