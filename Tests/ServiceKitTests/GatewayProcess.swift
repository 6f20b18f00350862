import Foundation
import TestSupport

/// The api-gateway executable, started for a test against its own broker and database.
struct GatewayProcess {
    let process: ChildProcess
    let port: Int
    let directory: URL

    var baseURL: String { "http://127.0.0.1:\(port)" }

    static let jwtSecret = "test-jwt-secret-0123456789abcdef-xyz"
    static let ingestToken = "test-ingest-token-4711"

    /// The environment a healthy gateway gets; tests remove or change entries to break it.
    static func environment(broker: MosquittoBroker, databaseURL: String, port: Int) -> [String: String] {
        [
            "LEITSTAND_MQTT_URL": broker.url,
            "LEITSTAND_DATABASE_URL": databaseURL,
            "LEITSTAND_HTTP_HOST": "127.0.0.1",
            "LEITSTAND_HTTP_PORT": "\(port)",
            "LEITSTAND_JWT_SECRET": jwtSecret,
            "LEITSTAND_TOKEN": ingestToken,
            "LEITSTAND_LOG_FORMAT": "json",
            "LEITSTAND_LOG_LEVEL": "debug",
        ]
    }

    /// Starts the gateway; with `waitUntilListening` it returns once its HTTP port accepts connections.
    static func start(environment: [String: String], waitUntilListening: Bool = true) async throws -> GatewayProcess {
        let directory = try makeTemporaryDirectory("gateway")
        let port = Int(environment["LEITSTAND_HTTP_PORT"] ?? "") ?? 0
        let process = try ChildProcess(
            name: "api-gateway",
            executable: try projectExecutable("api-gateway"),
            environment: environment,
            outputFile: directory.appendingPathComponent("output.log")
        )
        let gateway = GatewayProcess(process: process, port: port, directory: directory)
        if waitUntilListening {
            do {
                try await waitUntil("the gateway listens on \(port)") { isListening(port: port) || !process.isRunning }
                guard process.isRunning else { throw TestSupportError("the gateway exited:\n\(process.output)") }
            } catch {
                await gateway.stop()
                throw error
            }
        }
        return gateway
    }

    func stop() async {
        await process.stop()
        try? FileManager.default.removeItem(at: directory)
    }
}
