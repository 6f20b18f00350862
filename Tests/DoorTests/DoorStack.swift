import Contracts
import DoorCrypto
import Foundation
import MQTT
import TestSupport
import Testing

/// Door access with every real part: Postgres, Mosquitto (the repository's ACL plus the dynamic-security plugin
/// for devices), an api-gateway, a door-scheduler, and pi-door-clients with simulated relays. Members and devices
/// are made with the `leitstand` CLI, as an operator would.
final class DoorStack: @unchecked Sendable {
    // @unchecked: used by the one test task that owns it.
    let broker: MosquittoBroker
    let database: TestDatabase
    let gateway: ServiceProcess
    private(set) var scheduler: ServiceProcess?
    private(set) var devices: [String: Device] = [:]
    let schedulerEnvironment: [String: String]

    static let secretKey = "ed9baf81ce11e949981f2136126e51822807d470dd4591b74423e25625f01a40"
    static let passwords = ["api-gateway": randomSecret(), "door-scheduler": randomSecret(), "leitstand-admin": randomSecret()]
    static let memberPassword = "door-test-password"

    /// A registered door device and, while it runs, its process.
    struct Device: Sendable {
        var id: String
        var areas: [String]
        var secret: String
        var mqttURL: String
        var pulsesFile: URL
        var stateDirectory: URL
        var process: ServiceProcess?
    }

    private init(broker: MosquittoBroker, database: TestDatabase, gateway: ServiceProcess, schedulerEnvironment: [String: String]) {
        self.broker = broker
        self.database = database
        self.gateway = gateway
        self.schedulerEnvironment = schedulerEnvironment
    }

    /// Runs `body` with a started gateway and scheduler; devices and members are the test's to add.
    static func with(
        scheduler schedulerOverrides: [String: String] = [:],
        gateway gatewayOverrides: [String: String] = [:],
        _ body: (DoorStack) async throws -> Void
    ) async throws {
        try await TestDatabase.with { database in
            try await MosquittoBroker.with(
                aclFile: try ServiceProcess.repositoryACL(), extraUsers: passwords, dynamicSecurity: true,
                usernameAsClientID: try ServiceProcess.repositoryBrokerNamesClientsAfterUsers()
            ) { broker in
                var environment = ServiceProcess.gatewayEnvironment(broker: broker, databaseURL: database.url, port: try freeTCPPort())
                environment["LEITSTAND_MQTT_URL"] = broker.url(user: "api-gateway", password: passwords["api-gateway"]!)
                environment["LEITSTAND_INGEST_ENABLED"] = "false"
                environment.merge(gatewayOverrides) { $1 }
                let gateway = try await ServiceProcess.startGateway(environment: environment)
                var schedulerEnvironment = [
                    "LEITSTAND_MQTT_URL": broker.url(user: "door-scheduler", password: passwords["door-scheduler"]!),
                    "LEITSTAND_DATABASE_URL": database.url,
                    "LEITSTAND_HTTP_HOST": "127.0.0.1",
                    "LEITSTAND_SECRET_KEY": secretKey,
                    "LEITSTAND_RPC_KEY": ServiceProcess.rpcKey,
                    "LEITSTAND_LOG_FORMAT": "json",
                    "LEITSTAND_LOG_LEVEL": "debug",
                ]
                schedulerEnvironment.merge(schedulerOverrides) { $1 }
                let stack = DoorStack(broker: broker, database: database, gateway: gateway, schedulerEnvironment: schedulerEnvironment)
                do {
                    try await stack.startScheduler()
                    try await body(stack)
                } catch {
                    stack.printOutputs()
                    await stack.stopAll()
                    throw error
                }
                await stack.stopAll()
            }
        }
    }

    func startScheduler() async throws {
        var environment = schedulerEnvironment
        environment["LEITSTAND_HTTP_PORT"] = "\(try freeTCPPort())"
        scheduler = try await ServiceProcess.start("door-scheduler", environment: environment)
        // It answers once its RPC subscription is in place: an unknown job is a 404 from the scheduler itself.
        try await waitUntil("the scheduler answers", timeout: .seconds(15)) {
            (try? await self.request("GET", "/api/door/jobs/00000000-0000-0000-0000-000000000000", token: self.anyToken()))?.status == 404
        }
    }

    func stopScheduler(signal: Int32 = SIGTERM) async throws {
        guard let scheduler else { return }
        if signal == SIGKILL {
            scheduler.process.signal(SIGKILL)
            _ = try await scheduler.process.waitForExit()
        }
        await scheduler.stop()
        self.scheduler = nil
    }

    /// A broker client of the operator's account (`leitstand-admin`), as the CLI connects.
    func operatorClient() async throws -> MQTTClient {
        let client = try broker.client(broker.configuration(user: "leitstand-admin", password: Self.passwords["leitstand-admin"]!))
        try await client.connect()
        return client
    }

    /// Sends a door request to the scheduler as the gateway would (sealed with the test's `LEITSTAND_RPC_KEY`, or
    /// `sealed: false` as an impostor), from `client`, with its reply going to `responseTopic`.
    func askScheduler(
        _ method: DoorRPC.Method, _ body: some Encodable, from client: MQTTClient, responseTopic: String, correlation: UInt8,
        deadline: Date = Date().addingTimeInterval(5), sealed: Bool = true
    ) async throws {
        let json = try ContractCoding.encode(body)
        let payload = sealed ? try RPCSeal(keyText: ServiceProcess.rpcKey)!.seal(json, topic: method.topic, deadline: deadline) : json
        try await client.publish(
            method.topic, payload: payload,
            properties: MQTTPublishProperties(messageExpiry: .seconds(5), responseTopic: responseTopic, correlationData: Data([correlation]), deadline: deadline)
        )
    }

    // MARK: operator

    /// Runs the `leitstand` CLI against this stack; fails the test on a non-zero exit.
    @discardableResult
    func cli(_ arguments: [String], input: String? = nil, environment extra: [String: String] = [:]) async throws -> String {
        let directory = try makeTemporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: directory) }
        var stdin: URL?
        if let input {
            stdin = directory.appendingPathComponent("stdin")
            try input.write(to: stdin!, atomically: true, encoding: .utf8)
        }
        var environment = [
            "LEITSTAND_DATABASE_URL": database.url,
            "LEITSTAND_SECRET_KEY": Self.secretKey,
            "LEITSTAND_MQTT_URL": broker.url(user: "leitstand-admin", password: Self.passwords["leitstand-admin"]!),
        ]
        environment.merge(extra) { $1 }
        let process = try ChildProcess(
            name: "leitstand \(arguments.joined(separator: " "))", executable: try projectExecutable("leitstand"),
            arguments: arguments, environment: environment, outputFile: directory.appendingPathComponent("output.log"), standardInput: stdin
        )
        let code = try await process.waitForExit(timeout: .seconds(30))
        guard code == 0 else { throw TestSupportError("leitstand \(arguments.joined(separator: " ")) exited \(code):\n\(process.output)") }
        return process.output
    }

    func addMember(_ name: String, areas: [String], admin: Bool = false) async throws {
        try await cli(["member", "add", name, "--areas", areas.joined(separator: ",")] + (admin ? ["--admin"] : []) + ["--password-stdin"], input: Self.memberPassword + "\n")
    }

    /// Registers a device with the CLI (database and broker user) and keeps what it printed for the device.
    @discardableResult
    func addDevice(_ id: String, areas: [String]) async throws -> Device {
        let output = try await cli(["device", "add", id, "--areas", areas.joined(separator: ",")])
        func value(_ name: String) throws -> String {
            let line = output.split(separator: "\n").first { $0.hasPrefix("\(name)=") }
            return try #require(line.map { String($0.dropFirst(name.count + 1)) }, "no \(name) in:\n\(output)")
        }
        let directory = try makeTemporaryDirectory("device-\(id)")
        let device = Device(
            id: id, areas: areas, secret: try value("LEITSTAND_DEVICE_SECRET"), mqttURL: try value("LEITSTAND_MQTT_URL"),
            pulsesFile: directory.appendingPathComponent("pulses.jsonl"), stateDirectory: directory, process: nil
        )
        devices[id] = device
        return device
    }

    /// Starts (or restarts) the device's pi-door-client and waits until the scheduler counts it online.
    func startDevice(_ id: String, environment extra: [String: String] = [:], waitOnline: Bool = true) async throws {
        var device = try #require(devices[id])
        var environment = [
            "LEITSTAND_MQTT_URL": device.mqttURL,
            "LEITSTAND_HTTP_HOST": "127.0.0.1",
            "LEITSTAND_HTTP_PORT": "\(try freeTCPPort())",
            "LEITSTAND_DEVICE_ID": device.id,
            "LEITSTAND_DEVICE_SECRET": device.secret,
            "LEITSTAND_AREAS": device.areas.joined(separator: ","),
            "LEITSTAND_GPIO": "sim:\(device.pulsesFile.path)",
            "LEITSTAND_STATE_DIR": device.stateDirectory.path,
            "LEITSTAND_LOG_FORMAT": "json",
            "LEITSTAND_LOG_LEVEL": "debug",
        ]
        environment.merge(extra) { $1 }
        device.process = try await ServiceProcess.start("pi-door-client", environment: environment)
        devices[id] = device
        if waitOnline {
            try await waitUntil("the scheduler sees \(id) online", timeout: .seconds(15)) { self.deviceOnline(id) }
        }
    }

    /// Whether the device's retained status says online (what the scheduler's presence follows).
    func deviceOnline(_ id: String) -> Bool {
        let output = scheduler?.process.output ?? ""
        let lines = output.split(separator: "\n").filter { $0.contains("device presence") && $0.contains("\"device.id\":\"\(id)\"") }
        return lines.last?.contains("\"device.online\":\"true\"") == true
    }

    func stopDevice(_ id: String, signal: Int32 = SIGTERM) async {
        guard let process = devices[id]?.process else { return }
        if signal == SIGKILL { process.process.signal(SIGKILL) }
        await process.stop()
        devices[id]?.process = nil
    }

    /// The pulses the device's simulated relay recorded, as JSON objects.
    func pulses(_ id: String) throws -> [[String: Any]] {
        guard let file = devices[id]?.pulsesFile, let text = try? String(contentsOf: file, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
    }

    func pulsedJobs(_ id: String) throws -> [String] { try pulses(id).compactMap { $0["jobId"] as? String } }

    // MARK: member

    func login(_ name: String, password: String = DoorStack.memberPassword, headers: [String: String] = [:]) async throws -> HTTPProbe {
        try await HTTPProbe.send(
            "POST", "\(gateway.baseURL)/api/auth/login",
            body: try JSONSerialization.data(withJSONObject: ["username": name, "password": password]),
            headers: headers.merging(["Content-Type": "application/json"]) { $1 }
        )
    }

    func token(_ name: String) async throws -> String {
        let response = try await login(name)
        return try #require(try response.json()["token"] as? String, "login of \(name): \(response.status) \(response.text)")
    }

    private var cachedAnyToken: String?

    /// A valid session for a member who exists only in the token (enough to reach the scheduler).
    private func anyToken() async throws -> String {
        if let cachedAnyToken { return cachedAnyToken }
        try await addMember("probe", areas: ["probe-area"])
        cachedAnyToken = try await token("probe")
        return cachedAnyToken!
    }

    func request(_ method: String, _ path: String, token: String? = nil, body: Data? = nil, headers extra: [String: String] = [:]) async throws -> HTTPProbe {
        var headers = extra
        if let token { headers["Authorization"] = "Bearer \(token)" }
        if body != nil { headers["Content-Type"] = "application/json" }
        return try await HTTPProbe.send(method, "\(gateway.baseURL)\(path)", body: body, headers: headers)
    }

    func open(_ area: String, token: String, key: String? = nil) async throws -> HTTPProbe {
        try await request("POST", "/api/door/open/\(area)", token: token, headers: key.map { ["Idempotency-Key": $0] } ?? [:])
    }

    func job(_ id: String, token: String) async throws -> [String: Any] {
        try await request("GET", "/api/door/jobs/\(id)", token: token).json()
    }

    /// Waits until the job reaches `status` and returns it.
    @discardableResult
    func waitForJob(_ id: String, token: String, status: String, timeout: Duration = .seconds(15)) async throws -> [String: Any] {
        try await waitUntil("job \(id) is \(status)", timeout: timeout) {
            (try? await self.job(id, token: token))?["status"] as? String == status
        }
        return try await job(id, token: token)
    }

    /// The `Prometheus` value of a metric line (with its labels) of a service.
    static func metric(_ line: String, of service: ServiceProcess) async throws -> Double {
        let text = try await HTTPProbe.get("\(service.baseURL)/metrics").text
        let found = text.split(separator: "\n").first { $0.hasPrefix("\(line) ") }
        return found.flatMap { Double($0.split(separator: " ").last!) } ?? 0
    }

    private func printOutputs() {
        print("gateway output:\n\(Self.tail(of: gateway.process, 5_000))")
        if let scheduler { print("scheduler output:\n\(Self.tail(of: scheduler.process, 8_000))") }
        for device in devices.values { if let process = device.process { print("\(device.id) output:\n\(Self.tail(of: process.process, 5_000))") } }
        // Connections, disconnects and their reasons (keep-alive, takeover) as the broker saw them.
        let brokerLog = (try? String(contentsOf: broker.directory.appendingPathComponent("mosquitto.log"), encoding: .utf8)) ?? ""
        print("broker log:\n\(brokerLog.suffix(5_000))")
    }

    /// The end of a process's output without Hummingbird's debug line per request: a test that polls `/metrics`
    /// would otherwise fill the tail with them and push out what went wrong.
    private static func tail(of process: ChildProcess, _ characters: Int) -> Substring {
        process.output.split(separator: "\n").filter { !$0.contains(#""msg":"Request""#) }.joined(separator: "\n").suffix(characters)
    }

    private func stopAll() async {
        for id in devices.keys { await stopDevice(id) }
        for device in devices.values { try? FileManager.default.removeItem(at: device.stateDirectory) }
        if let scheduler { await scheduler.stop() }
        await gateway.stop()
    }
}
