import Foundation

/// One of the project's service executables, started for a test with its own environment and log file.
public struct ServiceProcess: Sendable {
    public let name: String
    public let process: ChildProcess
    public let port: Int
    public let directory: URL

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Starts `executable`; with `waitUntilListening` it returns once its HTTP port (`LEITSTAND_HTTP_PORT`)
    /// accepts connections, and throws with the output when it exited instead.
    public static func start(
        _ executable: String,
        environment: [String: String],
        waitUntilListening: Bool = true
    ) async throws -> ServiceProcess {
        var environment = environment
        // A free port can be taken by a parallel test between the check and the bind: then try another one.
        for attempt in 1...3 {
            let directory = try makeTemporaryDirectory(executable)
            let port = Int(environment["LEITSTAND_HTTP_PORT"] ?? "") ?? 0
            let process = try ChildProcess(
                name: executable,
                executable: try projectExecutable(executable),
                environment: environment,
                outputFile: directory.appendingPathComponent("output.log")
            )
            let service = ServiceProcess(name: executable, process: process, port: port, directory: directory)
            guard waitUntilListening else { return service }
            do {
                try await waitUntil("\(executable) listens on \(port)") { isListening(port: port) || !process.isRunning }
                guard process.isRunning else { throw TestSupportError("\(executable) exited:\n\(process.output)") }
                return service
            } catch {
                let portTaken = process.output.contains("Address already in use")
                await service.stop()
                guard portTaken && attempt < 3 else { throw error }
                environment["LEITSTAND_HTTP_PORT"] = "\(try freeTCPPort())"
            }
        }
        throw TestSupportError("\(executable) did not start")
    }

    /// SIGTERM, then SIGKILL if it does not go; removes its folder.
    public func stop() async {
        await process.stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// The environments the services get in tests: healthy, for tests to change or break.
extension ServiceProcess {
    public static let jwtSecret = "test-jwt-secret-0123456789abcdef-xyz"
    public static let ingestToken = "test-ingest-token-4711"
    /// The gateway's and the scheduler's `LEITSTAND_RPC_KEY` in tests.
    public static let rpcKey = "test-rpc-key-4f1c9a2e7b3d8065-door"

    public static func gatewayEnvironment(broker: MosquittoBroker, databaseURL: String, port: Int) -> [String: String] {
        [
            "LEITSTAND_MQTT_URL": broker.url,
            "LEITSTAND_DATABASE_URL": databaseURL,
            "LEITSTAND_HTTP_HOST": "127.0.0.1",
            "LEITSTAND_HTTP_PORT": "\(port)",
            "LEITSTAND_JWT_SECRET": jwtSecret,
            "LEITSTAND_RPC_KEY": rpcKey,
            "LEITSTAND_TOKEN": ingestToken,
            "LEITSTAND_LOG_FORMAT": "json",
            "LEITSTAND_LOG_LEVEL": "debug",
        ]
    }

    public static func startGateway(environment: [String: String], waitUntilListening: Bool = true) async throws -> ServiceProcess {
        try await start("api-gateway", environment: environment, waitUntilListening: waitUntilListening)
    }

    /// The repository's broker ACL (`deploy/mosquitto/acl`); the broker puts its own unrestricted accounts in front.
    public static func repositoryACL() throws -> String {
        try String(contentsOf: repositoryRoot.appendingPathComponent("deploy/mosquitto/acl"), encoding: .utf8)
    }

    /// Whether deploy/mosquitto/mosquitto.conf names every client after its user (`use_username_as_clientid`), so
    /// that test brokers run as the deployed one does.
    public static func repositoryBrokerNamesClientsAfterUsers() throws -> Bool {
        let configuration = try String(contentsOf: repositoryRoot.appendingPathComponent("deploy/mosquitto/mosquitto.conf"), encoding: .utf8)
        return configuration.split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces) == "use_username_as_clientid true" }
    }

    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}
