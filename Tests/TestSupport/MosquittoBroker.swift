import Foundation
import Logging
import MQTT

/// A real Mosquitto started for one test on a free loopback port, with its own directory, password file and
/// persistence. It can be stopped and started again on the same port (for reconnect tests) and must be
/// ``shutdown()`` by the test that made it.
public final class MosquittoBroker: @unchecked Sendable {
    // @unchecked: mutated only by the single test task that owns the broker.
    public let port: Int
    public let directory: URL
    /// The harness's own unrestricted account (with an ACL, `topic readwrite #` is put in front of it).
    public let username = "test"
    public let password = randomSecret()
    /// With `usernameAsClientID` the broker names every client after its account, as deployed (so two clients of
    /// one account replace each other): the harness then has several accounts like `test`, and every client it
    /// makes without naming a user gets one of its own.
    public let usernameAsClientID: Bool
    private var testUsers: [String] { usernameAsClientID ? [username] + (2...12).map { "\(username)-\($0)" } : [username] }
    private var nextTestUser = 0
    private var child: ChildProcess?
    private var generation = 0
    private var clients: [MQTTClient] = []

    /// Runs `body` with a new broker and shuts it (and every client it made) down afterwards, also on failure.
    public static func with(
        aclFile: String? = nil,
        extraUsers: [String: String] = [:],
        dynamicSecurity: Bool = false,
        usernameAsClientID: Bool = false,
        _ body: (MosquittoBroker) async throws -> Void
    ) async throws {
        let broker = try await MosquittoBroker(aclFile: aclFile, extraUsers: extraUsers, dynamicSecurity: dynamicSecurity, usernameAsClientID: usernameAsClientID)
        do {
            try await body(broker)
        } catch {
            await broker.shutdown()
            throw error
        }
        await broker.shutdown()
    }

    /// `aclFile`: the contents of an ACL file, or nil for none (every authenticated user may use every topic).
    /// `extraUsers`: further user names and passwords for the password file.
    /// `dynamicSecurity`: load the dynamic-security plugin with the repository's empty configuration, as the stack
    /// does for door devices.
    /// `usernameAsClientID`: `use_username_as_clientid true`, as deploy/mosquitto/mosquitto.conf has it.
    public init(aclFile: String? = nil, extraUsers: [String: String] = [:], dynamicSecurity: Bool = false, usernameAsClientID: Bool = false) async throws {
        port = try freeTCPPort()
        directory = try makeTemporaryDirectory("mosquitto")
        self.usernameAsClientID = usernameAsClientID
        let passwordFile = directory.appendingPathComponent("passwd")
        _ = FileManager.default.createFile(atPath: passwordFile.path, contents: nil)
        let own = Dictionary(uniqueKeysWithValues: testUsers.map { ($0, password) })
        for (user, secret) in own.merging(extraUsers, uniquingKeysWith: { first, _ in first }) {
            let tool = Process()
            tool.executableURL = URL(fileURLWithPath: Self.binary("mosquitto_passwd"))
            tool.arguments = ["-b", passwordFile.path, user, secret]
            try tool.run()
            tool.waitUntilExit()
            guard tool.terminationStatus == 0 else { throw TestSupportError("mosquitto_passwd failed") }
        }
        var configuration = """
            listener \(port) 127.0.0.1
            allow_anonymous false
            password_file \(passwordFile.path)
            set_tcp_nodelay true
            persistence true
            persistence_location \(directory.path)/
            autosave_interval 1
            max_queued_messages 100000
            max_packet_size 2097152
            log_dest file \(directory.path)/mosquitto.log
            log_type error
            log_type warning
            log_type notice

            """
        if usernameAsClientID { configuration += "use_username_as_clientid true\n" }
        if let aclFile {
            let aclPath = directory.appendingPathComponent("acl")
            let own = testUsers.map { "user \($0)\ntopic readwrite #\n" }.joined()
            try (own + "\n" + aclFile).write(to: aclPath, atomically: true, encoding: .utf8)
            configuration += "acl_file \(aclPath.path)\n"
        }
        if dynamicSecurity {
            let state = directory.appendingPathComponent("dynamic-security.json")
            try FileManager.default.copyItem(at: ServiceProcess.repositoryRoot.appendingPathComponent("deploy/mosquitto/dynamic-security.json"), to: state)
            configuration += "plugin \(try Self.dynamicSecurityPlugin())\nplugin_opt_config_file \(state.path)\n"
        }
        try configuration.write(to: directory.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
        try handDirectoryToBrokerUser()
        try await start()
    }

    /// Started as root, Mosquitto drops to the `mosquitto` user and must still read its files.
    private func handDirectoryToBrokerUser() throws {
        guard geteuid() == 0, let account = getpwnam("mosquitto") else { return }
        let uid = account.pointee.pw_uid
        let gid = account.pointee.pw_gid
        let paths = [directory.path] + (try FileManager.default.contentsOfDirectory(atPath: directory.path)).map {
            directory.appendingPathComponent($0).path
        }
        for path in paths { chown(path, uid, gid) }
    }

    static func dynamicSecurityPlugin() throws -> String {
        for directory in ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib"] {
            let path = "\(directory)/mosquitto_dynamic_security.so"
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        throw TestSupportError("mosquitto_dynamic_security.so not found (Debian's mosquitto package has it)")
    }

    static func binary(_ name: String) -> String {
        for directory in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return name
    }

    /// Starts the broker (again) and waits until it accepts connections.
    public func start() async throws {
        guard child?.isRunning != true else { return }
        generation += 1
        child = try ChildProcess(
            name: "mosquitto:\(port)",
            executable: URL(fileURLWithPath: Self.binary("mosquitto")),
            arguments: ["-c", directory.appendingPathComponent("mosquitto.conf").path],
            environment: [:],
            outputFile: directory.appendingPathComponent("mosquitto-\(generation).log")
        )
        try await waitUntil("mosquitto listens on \(port)") { isListening(port: port) }
    }

    /// Stops the broker cleanly (it saves its persistence file) and waits until the port is closed.
    public func stop() async throws {
        await child?.stop()
        try await waitUntil("mosquitto released \(port)") { !isListening(port: port) }
    }

    /// Freezes the broker (SIGSTOP): its sockets stay open and nothing answers, as with a hung or overloaded broker.
    public func pause() { child?.signal(SIGSTOP) }

    /// Lets a paused broker run again (SIGCONT).
    public func resume() { child?.signal(SIGCONT) }

    /// Kills the broker without letting it close anything (SIGKILL) and waits until the port is free.
    public func kill() async throws {
        child?.signal(SIGKILL)
        _ = try await child?.waitForExit()
        try await waitUntil("mosquitto released \(port)") { !isListening(port: port) }
    }

    /// Disconnects the clients it made, stops the broker and removes its directory.
    public func shutdown() async {
        for client in clients { await client.disconnect() }
        clients.removeAll()
        await child?.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    public var url: String { url(user: username, password: password) }

    public func url(user: String, password: String) -> String { "mqtt://\(user):\(password)@127.0.0.1:\(port)" }

    /// A client configuration for this broker, reconnecting quickly so that tests need not wait long. Without a
    /// `user` it is one of the harness's accounts (with `usernameAsClientID`, each time another, named as its client).
    public func configuration(clientID: String = "test-\(UUID().uuidString.prefix(8))", user: String? = nil, password: String? = nil) -> MQTTConfiguration {
        var account = user ?? username
        var clientID = clientID
        if user == nil && usernameAsClientID {
            account = testUsers[nextTestUser % testUsers.count]
            nextTestUser += 1
            clientID = account
        } else if usernameAsClientID, let user {
            clientID = user
        }
        return MQTTConfiguration(
            host: "127.0.0.1",
            port: port,
            username: account,
            password: password ?? self.password,
            clientID: clientID,
            reconnectDelay: .milliseconds(100) ... .milliseconds(500)
        )
    }

    /// A client for this broker that ``shutdown()`` disconnects (unless the test did so before).
    public func client(_ configuration: MQTTConfiguration) throws -> MQTTClient {
        try client(configuration, logger: Logger(label: "test.\(configuration.clientID)"))
    }

    /// A client for this broker that logs to `logger`, and that ``shutdown()`` disconnects.
    public func client(_ configuration: MQTTConfiguration, logger: Logger) throws -> MQTTClient {
        let client = try MQTTClient(configuration: configuration, logger: logger)
        clients.append(client)
        return client
    }

    /// Makes ``shutdown()`` disconnect a client the test made itself (e.g. with its own metrics factory).
    @discardableResult
    public func adopt(_ client: MQTTClient) -> MQTTClient {
        clients.append(client)
        return client
    }

    /// A started and connected client that ``shutdown()`` disconnects.
    public func connectedClient(
        clientID: String = "test-\(UUID().uuidString.prefix(8))",
        session: MQTTConfiguration.Session = .clean,
        responseTopic: String? = nil
    ) async throws -> MQTTClient {
        var configuration = configuration(clientID: clientID)
        configuration.session = session
        configuration.responseTopic = responseTopic
        let client = try client(configuration)
        try await client.connect(timeout: .seconds(10))
        return client
    }
}
