import Foundation
import TestSupport
import Testing

/// A real broker (with the repository's ACL), a database for the gateway, an api-gateway and ingest-writers
/// sharing a temporary data directory, all started for one test and stopped after it.
final class IngestStack: @unchecked Sendable {
    let broker: MosquittoBroker
    let databaseURL: String
    let dataDirectory: URL
    private(set) var gateway: ServiceProcess
    private var writers: [ServiceProcess] = []
    private var tracedWriters: [TracedWriter] = []

    static let gatewayPassword = randomSecret()
    static let writerPassword = randomSecret()
    /// One broker account per writer running at once: the broker names every client after its account, so two
    /// processes of one account would replace each other. Each replica gets the first writer's rights (docs/mqtt.md).
    static let writerAccounts = ["ingest-writer", "ingest-writer-2", "ingest-writer-3", "ingest-writer-4"]
    private var writersStarted = 0

    /// The repository's ACL, and the lines of the replica accounts, as an operator adds them for a second writer.
    static func brokerACL() throws -> String {
        let replicas = writerAccounts.dropFirst().map { account in
            """
            user \(account)
            topic read leitstand/ingest/#
            topic write leitstand/reply/+
            topic write leitstand/audit/\(account)
            topic readwrite leitstand/svc/ingest-writer/status
            topic read leitstand/svc/ingest-writer/cmd/#

            """
        }
        return try ServiceProcess.repositoryACL() + "\n" + replicas.joined(separator: "\n")
    }

    private init(broker: MosquittoBroker, databaseURL: String, dataDirectory: URL, gateway: ServiceProcess) {
        self.broker = broker
        self.databaseURL = databaseURL
        self.dataDirectory = dataDirectory
        self.gateway = gateway
    }

    /// Runs `body` with a started gateway and one started writer (unless `startWriter` is false), and cleans up.
    /// `prepare` runs on the empty data directory before anything starts (to plant files, as a restore would).
    static func with(
        gateway gatewayEnvironment: [String: String] = [:],
        writer writerEnvironment: [String: String] = [:],
        startWriter: Bool = true,
        prepare: (URL) throws -> Void = { _ in },
        _ body: (IngestStack) async throws -> Void
    ) async throws {
        try await TestDatabase.with { database in
            try await MosquittoBroker.with(
                aclFile: try brokerACL(),
                extraUsers: Dictionary(uniqueKeysWithValues: writerAccounts.map { ($0, writerPassword) }).merging(["api-gateway": gatewayPassword]) { $1 },
                usernameAsClientID: try ServiceProcess.repositoryBrokerNamesClientsAfterUsers()
            ) { broker in
                let dataDirectory = try makeTemporaryDirectory("ingest-data")
                defer { try? FileManager.default.removeItem(at: dataDirectory) }
                try prepare(dataDirectory)
                var environment = ServiceProcess.gatewayEnvironment(broker: broker, databaseURL: database.url, port: try freeTCPPort())
                environment["LEITSTAND_MQTT_URL"] = broker.url(user: "api-gateway", password: gatewayPassword)
                environment["LEITSTAND_INGEST_TIMEOUT_MS"] = "1500"
                environment.merge(gatewayEnvironment) { $1 }
                let gateway = try await ServiceProcess.startGateway(environment: environment)
                let stack = IngestStack(broker: broker, databaseURL: database.url, dataDirectory: dataDirectory, gateway: gateway)
                do {
                    if startWriter { try await stack.startWriter(writerEnvironment) }
                    try await body(stack)
                } catch {
                    await stack.printOutputs()
                    await stack.stopAll()
                    throw error
                }
                await stack.stopAll()
            }
        }
    }

    /// The environment of the next writer to start, with a broker account of its own.
    func writerEnvironment(_ extra: [String: String] = [:]) throws -> [String: String] {
        let account = Self.writerAccounts[writersStarted % Self.writerAccounts.count]
        writersStarted += 1
        var environment = [
            "LEITSTAND_MQTT_URL": broker.url(user: account, password: Self.writerPassword),
            "LEITSTAND_HTTP_HOST": "127.0.0.1",
            "LEITSTAND_HTTP_PORT": "\(try freeTCPPort())",
            "LEITSTAND_DATA_DIR": dataDirectory.path,
            "LEITSTAND_LOG_FORMAT": "json",
            "LEITSTAND_LOG_LEVEL": "debug",
        ]
        environment.merge(extra) { $1 }
        return environment
    }

    /// Starts a writer and returns once it takes events itself: probe events on the domain `probe` are sent until
    /// one of them is stored by this writer (with several writers, the broker hands them out in turn).
    @discardableResult
    func startWriter(_ extra: [String: String] = [:]) async throws -> ServiceProcess {
        let writer = try await ServiceProcess.start("ingest-writer", environment: try writerEnvironment(extra))
        writers.append(writer)
        try await waitUntil("the writer takes events", timeout: .seconds(15)) {
            guard (try? await self.post("probe", #"{"probe":true}"#))?.status == 200 else { return false }
            return (try? await Self.metric("leitstand_ingest_events_stored_total", of: writer)) ?? 0 > 0
        }
        return writer
    }

    func stopWriters() async {
        for writer in writers { await writer.stop() }
        writers.removeAll()
        for writer in tracedWriters { await writer.stop() }
        tracedWriters.removeAll()
    }

    /// Starts a writer under `strace` with `arguments` (to kill it at a chosen system call, to make a call fail, or
    /// to record its syncs) and returns once it takes events, like ``startWriter(_:)``.
    @discardableResult
    func startWriter(strace arguments: [String]) async throws -> TracedWriter {
        for attempt in 1...3 {
            let writer = try TracedWriter(arguments: arguments, writer: try projectExecutable("ingest-writer"), environment: try writerEnvironment())
            tracedWriters.append(writer)
            // ptrace stops the writer at system calls: give it time on a loaded machine.
            try await waitUntil("the traced writer listens", timeout: .seconds(60)) {
                isListening(port: writer.port) || !writer.process.isRunning
            }
            guard writer.process.isRunning else {
                // A parallel test took the port between the check and the bind: another one.
                if writer.process.output.contains("Address already in use") && attempt < 3 { continue }
                throw TestSupportError("the traced writer exited:\n\(writer.process.output)")
            }
            try await waitUntil("the traced writer takes events", timeout: .seconds(60)) {
                guard (try? await self.post("probe", #"{"probe":true}"#))?.status == 200 else { return false }
                return (try? await Self.metric("leitstand_ingest_events_stored_total", at: writer.baseURL)) ?? 0 > 0
            }
            return writer
        }
        throw TestSupportError("the traced writer did not start")
    }

    /// POSTs `body` to `/ingest/{domain}` with the ingest token (unless other headers are given).
    func post(_ domain: String, _ body: String, headers: [String: String]? = nil, key: String? = nil) async throws -> HTTPProbe {
        var headers = headers ?? ["Authorization": "Bearer \(ServiceProcess.ingestToken)"]
        headers["Content-Type"] = "application/json"
        if let key { headers["Idempotency-Key"] = key }
        return try await HTTPProbe.send("POST", "\(gateway.baseURL)/ingest/\(domain)", body: Data(body.utf8), headers: headers)
    }

    /// Every line of every day file of `domain`, as text (without the line feed), in file and line order.
    func lines(_ domain: String) throws -> [String] {
        let folder = dataDirectory.appendingPathComponent(domain)
        guard FileManager.default.fileExists(atPath: folder.path) else { return [] }
        var lines: [String] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() where file.hasSuffix(".jsonl") {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            #expect(text.isEmpty || text.hasSuffix("\n"), "\(file) ends in a torn line")
            lines += text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        }
        return lines
    }

    /// The ids of the lines of `domain`; a line that is not JSON fails the test.
    func ids(_ domain: String) throws -> [String] {
        try lines(domain).map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return object?["id"] as? String ?? "<no id>"
        }
    }

    /// A counter of the writer's `/metrics`.
    static func metric(_ name: String, of service: ServiceProcess) async throws -> Double {
        try await metric(name, at: service.baseURL)
    }

    /// A counter of the `/metrics` of the service at `baseURL`.
    static func metric(_ name: String, at baseURL: String) async throws -> Double {
        let text = try await HTTPProbe.get("\(baseURL)/metrics").text
        let line = text.split(separator: "\n").first { $0.hasPrefix("\(name) ") }
        return line.flatMap { Double($0.split(separator: " ")[1]) } ?? 0
    }

    var runningWriters: [ServiceProcess] { writers }

    private func printOutputs() async {
        print("gateway output:\n\(gateway.process.output.suffix(6_000))")
        for writer in writers { print("writer output:\n\(writer.process.output.suffix(6_000))") }
        for writer in tracedWriters { print("traced writer output:\n\(writer.process.output.suffix(6_000))") }
    }

    private func stopAll() async {
        await stopWriters()
        await gateway.stop()
    }
}
