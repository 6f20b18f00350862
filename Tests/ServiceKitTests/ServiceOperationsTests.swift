import Contracts
import Database
import Foundation
import Logging
import MQTT
import TestSupport
import Testing

/// The operations contract every service shares, checked on the api-gateway process: configuration errors,
/// /health following its links, /metrics, the retained status with its last will, SIGTERM and the restart command.
@Suite("Service operations (api-gateway process, real Mosquitto and Postgres)", .timeLimit(.minutes(3)))
struct ServiceOperationsTests {
    /// Runs `body` with a broker, a migrated-on-start database and a started gateway, cleaning up all three.
    /// The broker runs with the repository's ACL (deploy/mosquitto/acl): the gateway connects as `api-gateway`,
    /// the operator as `leitstand-admin`, and the test's own watcher as an unrestricted `test` user.
    func withGateway(
        extraEnvironment: [String: String] = [:],
        beforeStart: (MosquittoBroker) async throws -> Void = { _ in },
        _ body: (ServiceProcess, MosquittoBroker, TestDatabase) async throws -> Void
    ) async throws {
        try await TestDatabase.with { database in
            try await MosquittoBroker.with(
                aclFile: try ServiceProcess.repositoryACL(),
                extraUsers: ["api-gateway": Self.gatewayPassword, "leitstand-admin": Self.operatorPassword, "ingest-writer": Self.writerPassword],
                usernameAsClientID: try ServiceProcess.repositoryBrokerNamesClientsAfterUsers()
            ) { broker in
                try await beforeStart(broker)
                var environment = ServiceProcess.gatewayEnvironment(broker: broker, databaseURL: database.url, port: try freeTCPPort())
                environment["LEITSTAND_MQTT_URL"] = broker.url(user: "api-gateway", password: Self.gatewayPassword)
                environment.merge(extraEnvironment) { $1 }
                let gateway = try await ServiceProcess.startGateway(environment: environment)
                do {
                    try await body(gateway, broker, database)
                } catch {
                    print("gateway output:\n\(gateway.process.output)")
                    await gateway.stop()
                    throw error
                }
                await gateway.stop()
            }
        }
    }

    static let gatewayPassword = randomSecret()
    static let operatorPassword = randomSecret()
    static let writerPassword = randomSecret()

    /// A client as the operator (`leitstand-admin` in the ACL), as the CLI would connect.
    func operatorClient(_ broker: MosquittoBroker) async throws -> MQTTClient {
        let client = try broker.client(broker.configuration(user: "leitstand-admin", password: Self.operatorPassword))
        try await client.connect()
        return client
    }

    func statusCollector(_ broker: MosquittoBroker) async throws -> MessageCollector {
        let watcher = try await broker.connectedClient()
        return MessageCollector(try await watcher.subscribe(Topic.serviceStatus("api-gateway")))
    }

    func decodeStatus(_ message: MQTTMessage) throws -> ServiceStatus {
        try ContractCoding.decode(ServiceStatus.self, from: message.payload)
    }

    @Test("missing or malformed variables: exit 78 with one line per variable, no secret in the output")
    func refusesBadConfiguration() async throws {
        let environment = [
            "LEITSTAND_MQTT_URL": "http://gateway:secret-mqtt-password@127.0.0.1:1883",
            "LEITSTAND_HTTP_PORT": "99999",
            "LEITSTAND_JWT_SECRET": "too-short-jwt-secret",
            "LEITSTAND_LOG_FORMAT": "xml",
        ]
        let gateway = try await ServiceProcess.startGateway(environment: environment, waitUntilListening: false)
        let code = try await gateway.process.waitForExit()
        let output = gateway.process.output
        await gateway.stop()
        #expect(code == 78)
        for variable in ["LEITSTAND_MQTT_URL", "LEITSTAND_DATABASE_URL", "LEITSTAND_HTTP_PORT", "LEITSTAND_JWT_SECRET", "LEITSTAND_TOKEN", "LEITSTAND_LOG_FORMAT"] {
            #expect(output.contains("api-gateway: \(variable): "), "no line for \(variable) in:\n\(output)")
        }
        #expect(!output.contains("secret-mqtt-password") && !output.contains("too-short-jwt-secret"))
    }

    @Test("without LEITSTAND_TOKEN the gateway starts only when ingest is disabled")
    func ingestTokenRequiredUnlessDisabled() async throws {
        try await MosquittoBroker.with { broker in
            var environment = ServiceProcess.gatewayEnvironment(broker: broker, databaseURL: "postgres://u:p@127.0.0.1:1/none", port: try freeTCPPort())
            environment["LEITSTAND_TOKEN"] = nil
            let refused = try await ServiceProcess.startGateway(environment: environment, waitUntilListening: false)
            #expect(try await refused.process.waitForExit() == 78)
            #expect(refused.process.output.contains("LEITSTAND_TOKEN: is not set"))
            await refused.stop()

            environment["LEITSTAND_INGEST_ENABLED"] = "false"
            let started = try await ServiceProcess.startGateway(environment: environment)
            #expect(started.process.isRunning)
            await started.stop()
        }
    }

    @Test("/health is 200 with every link up, 503 naming the broker while it is down, 200 again after")
    func healthFollowsTheBroker() async throws {
        try await withGateway { gateway, broker, _ in
            try await waitUntil("healthy") { try await HTTPProbe.get("\(gateway.baseURL)/health").status == 200 }
            let healthy = try await HTTPProbe.get("\(gateway.baseURL)/health").json()
            #expect(healthy["status"] as? String == "ok")
            #expect(healthy["service"] as? String == "api-gateway")
            #expect(healthy["version"] as? String != nil)
            #expect(healthy["checks"] as? [String: String] == ["broker": "up", "database": "up"])

            try await broker.stop()
            try await waitUntil("unhealthy") { try await HTTPProbe.get("\(gateway.baseURL)/health").status == 503 }
            let down = try await HTTPProbe.get("\(gateway.baseURL)/health").json()
            #expect(down["checks"] as? [String: String] == ["broker": "down", "database": "up"])

            try await broker.start()
            try await waitUntil("healthy again", timeout: .seconds(20)) { try await HTTPProbe.get("\(gateway.baseURL)/health").status == 200 }
        }
    }

    @Test("/health says the broker is down within seconds of it pausing, not when the keep-alive notices (fails before: up for 35 s)")
    func healthNoticesAPausedBroker() async throws {
        try await withGateway { gateway, broker, _ in
            try await waitUntil("healthy") { try await HTTPProbe.get("\(gateway.baseURL)/health").status == 200 }
            broker.pause()
            defer { broker.resume() }
            let paused = ContinuousClock.now
            try await waitUntil("unhealthy", timeout: .seconds(10)) { try await HTTPProbe.get("\(gateway.baseURL)/health").status == 503 }
            #expect(ContinuousClock.now - paused < .seconds(10))
            let down = try await HTTPProbe.get("\(gateway.baseURL)/health").json()
            #expect((down["checks"] as? [String: String])?["broker"] == "down")
            broker.resume()
            try await waitUntil("healthy again", timeout: .seconds(20)) { try await HTTPProbe.get("\(gateway.baseURL)/health").status == 200 }
        }
    }

    @Test("/health is 503 naming the database when Postgres cannot be reached")
    func healthNamesTheDatabase() async throws {
        try await MosquittoBroker.with { broker in
            let closedPort = try freeTCPPort()
            let environment = ServiceProcess.gatewayEnvironment(broker: broker, databaseURL: "postgres://u:p@127.0.0.1:\(closedPort)/none", port: try freeTCPPort())
            let gateway = try await ServiceProcess.startGateway(environment: environment)
            defer { Task { await gateway.stop() } }
            try await waitUntil("broker link up") {
                try await HTTPProbe.get("\(gateway.baseURL)/health").json()["checks"] as? [String: String] == ["broker": "up", "database": "down"]
            }
            #expect(try await HTTPProbe.get("\(gateway.baseURL)/health").status == 503)
            await gateway.stop()
        }
    }

    @Test("/metrics serves Prometheus text, behind a bearer token when one is set")
    func metrics() async throws {
        try await withGateway(extraEnvironment: ["LEITSTAND_METRICS_TOKEN": "metrics-token-123"]) { gateway, _, _ in
            _ = try await HTTPProbe.get("\(gateway.baseURL)/health")
            #expect(try await HTTPProbe.get("\(gateway.baseURL)/metrics").status == 401)
            #expect(try await HTTPProbe.get("\(gateway.baseURL)/metrics", headers: ["Authorization": "Bearer wrong"]).status == 401)
            let scrape = try await HTTPProbe.get("\(gateway.baseURL)/metrics", headers: ["Authorization": "Bearer metrics-token-123"])
            #expect(scrape.status == 200)
            #expect(scrape.headers["content-type"]?.hasPrefix("text/plain") == true)
            #expect(scrape.text.contains("hb_requests{"), "\(scrape.text)")
            #expect(scrape.text.contains("http_server_request_duration"))
        }
    }

    @Test("the retained status says online; SIGKILL makes the broker publish the last will: offline")
    func statusAndLastWill() async throws {
        try await withGateway { gateway, broker, _ in
            let statuses = try await statusCollector(broker)
            defer { statuses.stop() }
            let online = try decodeStatus(try await statuses.waitFor(1)[0])
            #expect(online.state == .online && online.service == "api-gateway" && online.at != nil)

            gateway.process.signal(SIGKILL)
            try await waitUntil("the last will arrived") {
                try statuses.messages.contains { try decodeStatus($0).state == .offline }
            }
            let will = try decodeStatus(try #require(statuses.messages.last))
            #expect(will.reason == "connection lost")

            // A late watcher finds the truth in the retained store.
            let late = try await statusCollector(broker)
            defer { late.stop() }
            #expect(try decodeStatus(try await late.waitFor(1)[0]).state == .offline)
        }
    }

    @Test("SIGTERM shuts down gracefully: exit 0 and a retained offline status")
    func gracefulShutdown() async throws {
        try await withGateway { gateway, broker, _ in
            let statuses = try await statusCollector(broker)
            defer { statuses.stop() }
            _ = try await statuses.waitFor(1)
            gateway.process.signal(SIGTERM)
            #expect(try await gateway.process.waitForExit() == 0)
            try await waitUntil("offline published") { try statuses.messages.contains { try decodeStatus($0).state == .offline } }
            #expect(try decodeStatus(try #require(statuses.messages.last)).reason == "shut down")
        }
    }

    @Test("the restart command is audited, drains and exits with 75 for the supervisor")
    func restartCommand() async throws {
        try await withGateway { gateway, broker, database in
            try await waitUntil("healthy") { try await HTTPProbe.get("\(gateway.baseURL)/health").status == 200 }
            let statuses = try await statusCollector(broker)
            defer { statuses.stop() }
            let operatorClient = try await operatorClient(broker)
            let command = RestartCommand(delaySeconds: 1, reason: "config change", requestedBy: "test-operator")
            let started = ContinuousClock.now
            try await operatorClient.publish(Topic.restartCommand("api-gateway"), payload: try ContractCoding.encode(command))

            #expect(try await gateway.process.waitForExit() == 75)
            #expect(ContinuousClock.now - started >= .seconds(1))
            try await waitUntil("offline published") { try statuses.messages.contains { try decodeStatus($0).state == .offline } }
            #expect(try decodeStatus(try #require(statuses.messages.last)).reason == "restart requested by test-operator: config change")

            let audit = try await AuditLog(client: database.client, logger: Logger(label: "test")).recent(subject: "service:api-gateway")
            #expect(audit.map(\.type) == ["service.restart_requested"])
            #expect(audit.first?.actor == "test-operator")
            #expect(audit.first?.detail.contains("config change") == true)
        }
    }

    @Test("invalid, malformed and retained restart commands are refused; the service keeps running")
    func refusedRestartCommands() async throws {
        let topic = Topic.restartCommand("api-gateway")
        let ghost = try ContractCoding.encode(RestartCommand(reason: "ghost", requestedBy: "ops"))
        try await withGateway(beforeStart: { broker in
            // A retained command must never be taken from the store when the service subscribes.
            try await broker.connectedClient().publish(topic, payload: ghost, retain: true)
        }) { gateway, broker, database in
            try await waitUntil("healthy") { try await HTTPProbe.get("\(gateway.baseURL)/health").status == 200 }
            let operatorClient = try await operatorClient(broker)
            try await operatorClient.publish(topic, payload: try ContractCoding.encode(RestartCommand(delaySeconds: 301, reason: "too late", requestedBy: "ops")))
            try await operatorClient.publish(topic, payload: Data("{not json".utf8))
            let audit = AuditLog(client: database.client, logger: Logger(label: "test"))
            // These came after the retained one would have been delivered at subscribe time.
            try await waitUntil("both refusals audited") {
                try await audit.recent(subject: "service:api-gateway").filter { $0.type == "service.restart_rejected" }.count == 2
            }
            #expect(try await audit.recent(type: "service.restart_requested").isEmpty)
            #expect(gateway.process.isRunning)
            #expect(try await HTTPProbe.get("\(gateway.baseURL)/health").status == 200)
        }
    }

    @Test("the ACL keeps a service to its own topics: no other service's status, no door jobs")
    func serviceACL() async throws {
        // The broker alone: a second connection of the gateway's account would replace a running gateway's.
        try await MosquittoBroker.with(
            aclFile: try ServiceProcess.repositoryACL(), extraUsers: ["api-gateway": Self.gatewayPassword], usernameAsClientID: try ServiceProcess.repositoryBrokerNamesClientsAfterUsers()
        ) { broker in
            let impostor = try broker.client(broker.configuration(clientID: "impostor", user: "api-gateway", password: Self.gatewayPassword))
            try await impostor.connect()
            await #expect(throws: MQTTError.refused(operation: "publish", reasonCode: 0x87)) {
                try await impostor.publish(Topic.serviceStatus("door-scheduler"), payload: Data("{}".utf8), retain: true)
            }
            await #expect(throws: MQTTError.refused(operation: "publish", reasonCode: 0x87)) {
                try await impostor.publish(Topic.doorJobs(area: "lobby"), payload: Data("{}".utf8))
            }
            try await impostor.publish(Topic.serviceStatus("api-gateway"), payload: Data("{}".utf8))
        }
    }

    @Test("a retained restart command published while the service is connected is refused and audited too (fails before: it was obeyed once)")
    func retainedCommandWhileConnected() async throws {
        try await withGateway { gateway, broker, database in
            try await waitUntil("healthy") { try await HTTPProbe.get("\(gateway.baseURL)/health").status == 200 }
            let operatorClient = try await operatorClient(broker)
            let topic = Topic.restartCommand("api-gateway")
            try await operatorClient.publish(topic, payload: try ContractCoding.encode(RestartCommand(reason: "ghost", requestedBy: "ops")), retain: true)
            let audit = AuditLog(client: database.client, logger: Logger(label: "test"))
            try await waitUntil("the refusal is audited") {
                try await audit.recent(type: "service.restart_rejected").contains { $0.detail.contains("retained") }
            }
            try await Task.sleep(for: .seconds(1))
            #expect(gateway.process.isRunning)
            #expect(try await audit.recent(type: "service.restart_requested").isEmpty)
            try await operatorClient.publish(topic, payload: Data(), retain: true)
        }
    }

    @Test("a service without a database has its restart audited too, through the gateway (fails before: no audit row)")
    func restartOfServiceWithoutDatabaseIsAudited() async throws {
        try await withGateway { gateway, broker, database in
            let dataDirectory = try makeTemporaryDirectory("restart-audit")
            defer { try? FileManager.default.removeItem(at: dataDirectory) }
            let writer = try await ServiceProcess.start("ingest-writer", environment: [
                "LEITSTAND_MQTT_URL": broker.url(user: "ingest-writer", password: Self.writerPassword),
                "LEITSTAND_HTTP_HOST": "127.0.0.1", "LEITSTAND_HTTP_PORT": "\(try freeTCPPort())",
                "LEITSTAND_DATA_DIR": dataDirectory.path, "LEITSTAND_LOG_FORMAT": "json",
            ])
            try await waitUntil("the writer is healthy") { try await HTTPProbe.get("\(writer.baseURL)/health").status == 200 }
            let operatorClient = try await operatorClient(broker)
            // Refused first: a NUL the audit log could not store (audited without it) and no JSON at all; then the restart.
            let hidden = RestartCommand(reason: "hidden\u{0}restart", requestedBy: "someone\u{0}")
            try await operatorClient.publish(Topic.restartCommand("ingest-writer"), payload: try ContractCoding.encode(hidden))
            try await operatorClient.publish(Topic.restartCommand("ingest-writer"), payload: Data("{not json".utf8))
            let command = RestartCommand(reason: "new disk", requestedBy: "operator:kim")
            try await operatorClient.publish(Topic.restartCommand("ingest-writer"), payload: try ContractCoding.encode(command))
            #expect(try await writer.process.waitForExit() == 75, "\(writer.process.output)")
            await writer.stop()
            let audit = AuditLog(client: database.client, logger: Logger(label: "test"))
            try await waitUntil("the restart is in the audit log") {
                try await audit.recent(subject: "service:ingest-writer").contains { $0.type == "service.restart_requested" && $0.actor == "operator:kim" && $0.service == "ingest-writer" }
            }
            try await waitUntil("the NUL command's refusal is in the audit log") {
                try await audit.recent(subject: "service:ingest-writer").contains { $0.type == "service.restart_rejected" && $0.detail.contains("control characters") }
            }
        }
    }

    @Test("login with a database that does not answer: 503 login_unavailable within its timeout, logged at error (fails before: no answer in 20 s)")
    func loginWithAHangingDatabase() async throws {
        try await MosquittoBroker.with { broker in
            let silent = try SilentListener()
            defer { silent.close() }
            var environment = ServiceProcess.gatewayEnvironment(
                broker: broker, databaseURL: "postgres://u:\(randomSecret())@127.0.0.1:\(silent.port)/none", port: try freeTCPPort()
            )
            environment["LEITSTAND_DATABASE_TIMEOUT_MS"] = "1000"
            let gateway = try await ServiceProcess.startGateway(environment: environment)
            let started = ContinuousClock.now
            let login = try await HTTPProbe.send(
                "POST", "\(gateway.baseURL)/api/auth/login", body: Data(#"{"username":"anna","password":"whatever-123"}"#.utf8),
                headers: ["Content-Type": "application/json"]
            )
            let took = ContinuousClock.now - started
            let output = gateway.process.output
            await gateway.stop()
            #expect(login.status == 503 && login.text.contains("login_unavailable"), "\(login.status) \(login.text)")
            #expect(took < .seconds(6), "\(took)")
            #expect(output.contains(#""level":"error""#) && output.contains("login failed"), "\(output)")
        }
    }
}
