import Contracts
import Crypto
import Foundation
import MQTT
import PostgresNIO
import TestSupport
import Testing

/// What issue 9 found by running the stack as an attacker and as an unlucky operator would, each through the real
/// processes: requests that act after their asker gave up, sessions that outlive their rights, borrowed client
/// ids, the operator's account opening doors, replies sent anywhere, unbounded input, and lockouts by strangers.
@Suite("Door safety: deadlines, sessions, broker accounts, bounds, login throttling (real processes)")
struct DoorSafetyTests {
    static func code(_ response: HTTPProbe) -> String? { (try? response.json())?["error"] as? String }

    static func jobCount(_ stack: DoorStack, area: String) async throws -> Int {
        let rows = try await stack.database.client.query("SELECT count(*)::int FROM door_jobs WHERE area = \(area)")
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    static func dropped(_ reason: String, of service: ServiceProcess) async throws -> Double {
        try await DoorStack.metric("leitstand_mqtt_requests_dropped_total{reason=\"\(reason)\"}", of: service)
    }

    // MARK: deadlines

    @Test("the scheduler paused past the gateway's timeout: the member gets 503 and the queued request, taken late, is dropped: no job or pulse for it, and the next open works (fails before: the relay pulsed after the 503)")
    func pausedSchedulerNeverActsLate() async throws {
        try await DoorStack.with(gateway: ["LEITSTAND_DOOR_TIMEOUT_MS": "1000"]) { stack in
            try await stack.addMember("lena", areas: ["late-a"])
            try await stack.addDevice("pi-late-a", areas: ["late-a"])
            try await stack.startDevice("pi-late-a")
            let token = try await stack.token("lena")
            let scheduler = try #require(stack.scheduler)

            scheduler.process.signal(SIGSTOP)
            let opened = try await stack.open("late-a", token: token)
            #expect(opened.status == 503 && Self.code(opened) == "scheduler_unavailable", "\(opened.status) \(opened.text)")
            try await Task.sleep(for: .milliseconds(500))
            scheduler.process.signal(SIGCONT)

            // The next open waits behind the late one in the scheduler's session: once it is accepted, the late one
            // has been taken (a 503 meanwhile, on a loaded machine, is one more late request, and is tried again).
            var accepted: HTTPProbe?
            try await waitUntil("an open after the pause is accepted", timeout: .seconds(20)) {
                let again = try await stack.open("late-a", token: token)
                if again.status == 202 { accepted = again }
                return again.status == 202
            }
            let jobID = try #require(try accepted?.json()["jobId"] as? String)
            try await stack.waitForJob(jobID, token: token, status: "executed")
            #expect(try await Self.jobCount(stack, area: "late-a") == 1)
            #expect(try stack.pulsedJobs("pi-late-a") == [jobID])
            let metrics = try await HTTPProbe.get("\(scheduler.baseURL)/metrics").text
            #expect(try await Self.dropped("late", of: scheduler) >= 1, "\(metrics.split(separator: "\n").filter { $0.hasPrefix("leitstand_mqtt_") }.joined(separator: "\n"))")
        }
    }

    @Test("the broker paused past the gateway's timeout: the request it delivers afterwards is dropped by the scheduler; no pulse (fails before: the door pulsed seconds after the 503)")
    func pausedBrokerNeverActsLate() async throws {
        try await DoorStack.with(gateway: ["LEITSTAND_DOOR_TIMEOUT_MS": "1000"]) { stack in
            try await stack.addMember("mats", areas: ["late-b"])
            try await stack.addDevice("pi-late-b", areas: ["late-b"])
            try await stack.startDevice("pi-late-b")
            let token = try await stack.token("mats")
            let scheduler = try #require(stack.scheduler)

            stack.broker.pause()
            let opened = try await stack.open("late-b", token: token)
            #expect(opened.status == 503, "\(opened.status) \(opened.text)")
            try await Task.sleep(for: .seconds(2))
            stack.broker.resume()

            try await waitUntil("the late request was dropped", timeout: .seconds(15)) { try await Self.dropped("late", of: scheduler) >= 1 }
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await Self.jobCount(stack, area: "late-b") == 0)
            #expect(try stack.pulsedJobs("pi-late-b").isEmpty)
        }
    }

    // MARK: sessions

    @Test("rights are checked when used: logout-all, disable, remove and a demotion take effect on the next request (fails before: the old token kept opening doors)")
    func sessionsFollowTheMember() async throws {
        try await DoorStack.with(scheduler: ["LEITSTAND_DOOR_MEMBER_AREA_LOCK_S": "0"]) { stack in
            try await stack.addMember("nina", areas: ["s-a"])
            try await stack.addMember("otto", areas: ["s-x"], admin: true)
            try await stack.addDevice("pi-s", areas: ["s-a", "s-b"])
            try await stack.startDevice("pi-s")
            func openAndFinish(_ area: String, _ token: String) async throws -> HTTPProbe {
                let opened = try await stack.open(area, token: token)
                if opened.status == 202, let id = try opened.json()["jobId"] as? String {
                    try await stack.waitForJob(id, token: token, status: "executed")
                }
                return opened
            }

            let nina = try await stack.token("nina")
            #expect(try await openAndFinish("s-a", nina).status == 202)
            let jobID = try #require(try await stack.open("s-a", token: nina).json()["jobId"] as? String)
            try await stack.waitForJob(jobID, token: nina, status: "executed")

            try await stack.cli(["member", "logout-all", "nina"])
            let afterLogout = try await stack.open("s-a", token: nina)
            #expect(afterLogout.status == 401 && Self.code(afterLogout) == "unauthorized", "\(afterLogout.text)")
            #expect(try await stack.request("GET", "/api/door/jobs/\(jobID)", token: nina).status == 401)
            let renewed = try await stack.token("nina")
            #expect(try await openAndFinish("s-a", renewed).status == 202)

            try await stack.cli(["member", "disable", "nina"])
            #expect(try await stack.open("s-a", token: renewed).status == 401)
            #expect(try await stack.login("nina").status == 401)
            try await stack.cli(["member", "enable", "nina"])
            let enabled = try await stack.token("nina")
            try await stack.cli(["member", "remove", "nina"])
            #expect(try await stack.open("s-a", token: enabled).status == 401)
            #expect(try await stack.login("nina").status == 401)
            #expect(try await stack.cli(["member", "list"]).contains("otto"))

            // An admin demoted by `member add` without --admin: replacing a member ends their sessions, and the new
            // session has no other area.
            let otto = try await stack.token("otto")
            #expect(try await openAndFinish("s-b", otto).status == 202)
            try await stack.addMember("otto", areas: ["s-x"])
            #expect(try await stack.open("s-b", token: otto).status == 401)
            let demoted = try await stack.open("s-b", token: try await stack.token("otto"))
            #expect(demoted.status == 403 && Self.code(demoted) == "area_forbidden", "\(demoted.text)")
            // A member removed and added again under the same name never meets a token of their earlier self.
            try await stack.cli(["member", "remove", "otto"])
            try await stack.addMember("otto", areas: ["s-b"])
            #expect(try await stack.open("s-b", token: otto).status == 401)
            // Every change is in the audit log.
            let audit = try await stack.database.client.query("SELECT type FROM audit_log WHERE subject = 'member:nina' ORDER BY id")
            var types: [String] = []
            for try await type in audit.decode(String.self) { types.append(type) }
            #expect(types.suffix(4) == ["member.sessions_ended", "member.disabled", "member.enabled", "member.removed"], "\(types)")
        }
    }

    @Test("a token whose header names another algorithm than HS256 is refused, even with a valid HS256 signature (fails before: accepted)")
    func tokenAlgorithmIsPinned() async throws {
        try await DoorStack.with { stack in
            try await stack.addMember("paul", areas: ["t-a"])
            let token = try await stack.token("paul")
            func base64URL(_ data: some DataProtocol) -> String {
                Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                    .replacingOccurrences(of: "=", with: "")
            }
            let payload = try #require(token.split(separator: ".").dropFirst().first)
            func signed(header: String) -> String {
                let input = base64URL(Data(header.utf8)) + "." + payload
                let key = SymmetricKey(data: Data(ServiceProcess.jwtSecret.utf8))
                return input + "." + base64URL(Data(HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: key)))
            }
            // The same claims, re-signed with HS256: accepted under an honest header, refused under a lying one.
            let honest = try await stack.open("t-a", token: signed(header: #"{"alg":"HS256","typ":"JWT"}"#))
            #expect(honest.status != 401, "\(honest.text)")
            for header in [#"{"alg":"HS512","typ":"JWT"}"#, #"{"alg":"HS384","typ":"JWT"}"#, #"{"alg":"none","typ":"JWT"}"#] {
                let forged = try await stack.open("t-a", token: signed(header: header))
                #expect(forged.status == 401 && Self.code(forged) == "unauthorized", "\(header): \(forged.status) \(forged.text)")
            }
        }
    }

    // MARK: broker accounts

    @Test("a device account presenting the gateway's or another device's client id cannot knock either off the broker (fails before: the gateway dropped)")
    func clientIDsAreBoundToAccounts() async throws {
        try await DoorStack.with { stack in
            let device = try await stack.addDevice("pi-u", areas: ["u"])
            try await stack.addDevice("pi-v", areas: ["v"])
            try await stack.startDevice("pi-v")
            let watcher = try await stack.broker.connectedClient()
            let gatewayStatus = MessageCollector(try await watcher.subscribe(Topic.serviceStatus("api-gateway")))
            let deviceStatus = MessageCollector(try await watcher.subscribe(Topic.deviceStatus("pi-v")))
            defer { gatewayStatus.stop(); deviceStatus.stop() }
            try await gatewayStatus.waitFor(1)
            try await deviceStatus.waitFor(1)

            // The client ids the victims use, as their logs say.
            func clientID(of process: ServiceProcess) throws -> String {
                let line = try #require(process.process.output.split(separator: "\n").first { $0.contains("\"msg\":\"MQTT connected\"") })
                let start = try #require(line.range(of: "\"mqtt.client\":\""))
                return String(line[start.upperBound...].prefix { $0 != "\"" })
            }
            let victims = [try clientID(of: stack.gateway), try clientID(of: try #require(stack.devices["pi-v"]?.process))]
            for victim in victims {
                var configuration = try MQTTConfiguration(url: device.mqttURL, clientID: victim)
                configuration.reconnectDelay = .milliseconds(100) ... .milliseconds(500)
                let intruder = try stack.broker.client(configuration)
                try await intruder.connect()
                try await Task.sleep(for: .milliseconds(500))
                await intruder.disconnect()
            }
            // A knocked-off client reconnects within its backoff (1 s at first) and announces itself again.
            try await Task.sleep(for: .seconds(3))
            // A client that was knocked off would have announced itself again (and its will would have fired).
            #expect(gatewayStatus.messages.count == 1, "\(gatewayStatus.messages.map { String(decoding: $0.payload, as: UTF8.self) })")
            #expect(deviceStatus.messages.count == 1, "\(deviceStatus.messages.map { String(decoding: $0.payload, as: UTF8.self) })")
        }
    }

    @Test("only the gateway may ask the scheduler: the operator's account is refused at PUBLISH, and an account it makes with every right cannot seal a request (fails before: it opened a door for a forged member)")
    func operatorCannotAskTheScheduler() async throws {
        try await DoorStack.with { stack in
            try await stack.addDevice("pi-w", areas: ["w"])
            try await stack.startDevice("pi-w")
            let operatorClient = try await stack.operatorClient()
            let forged = #"{"area":"w","session":{"member":"forged-nobody","sessionVersion":1},"member":"forged-nobody","isAdmin":true}"#
            await #expect(throws: MQTTError.refused(operation: "publish", reasonCode: 0x87)) {
                try await operatorClient.publish(DoorRPC.Method.open.topic, payload: Data(forged.utf8))
            }
            // The operator's account can make broker accounts with any right (device add needs that), and so one that
            // may publish requests: it still cannot seal one, and the scheduler acts on nothing else.
            let password = randomSecret() + randomSecret()
            try await DynamicSecurity(client: operatorClient).run([
                DynamicSecurity.Command("createRole", rolename: "forger"),
                DynamicSecurity.Command("createClient", username: "forger", password: password),
                DynamicSecurity.Command("addRoleACL", rolename: "forger", acltype: "publishClientSend", topic: "leitstand/rpc/#", priority: 0, allow: true),
                DynamicSecurity.Command("addRoleACL", rolename: "forger", acltype: "subscribePattern", topic: "leitstand/reply/forger", priority: 0, allow: true),
                DynamicSecurity.Command("addRoleACL", rolename: "forger", acltype: "publishClientReceive", topic: "leitstand/reply/forger", priority: 0, allow: true),
                DynamicSecurity.Command("addClientRole", username: "forger", rolename: "forger", priority: 0),
            ])
            await operatorClient.disconnect()
            try await stack.addMember("mallory", areas: ["w"])
            let forger = try stack.broker.client(stack.broker.configuration(clientID: "forger", user: "forger", password: password))
            try await forger.connect()
            let replies = MessageCollector(try await forger.subscribe("leitstand/reply/forger"))
            defer { replies.stop() }
            let open = DoorRPC.OpenRequest(session: .init(member: "mallory", sessionVersion: 1), area: "w", idempotencyKey: nil)
            for version in 1...3 {
                var guessed = open
                guessed.session.sessionVersion = version
                try await stack.askScheduler(.open, guessed, from: forger, responseTopic: "leitstand/reply/forger", correlation: UInt8(version), sealed: false)
            }
            let answers = try await replies.waitFor(3)
            #expect(answers.allSatisfy { String(decoding: $0.payload, as: UTF8.self).contains("LEITSTAND_RPC_KEY") }, "\(answers.map { String(decoding: $0.payload, as: UTF8.self) })")
            try await Task.sleep(for: .milliseconds(500))
            #expect(try stack.pulsedJobs("pi-w").isEmpty)
            #expect(try await Self.jobCount(stack, area: "w") == 0)
        }
    }

    @Test("a request from an account that may ask, for a member who does not exist, is refused in the transaction (fails before: 202 and a pulse for `forged-nobody`)")
    func forgedMemberIsRefused() async throws {
        try await DoorStack.with { stack in
            try await stack.addDevice("pi-y", areas: ["y"])
            try await stack.startDevice("pi-y")
            let asker = try await stack.broker.connectedClient()
            let replies = "leitstand/reply/forger-\(UUID().uuidString.prefix(6))"
            let collector = MessageCollector(try await asker.subscribe(replies))
            defer { collector.stop() }
            let request = DoorRPC.OpenRequest(session: .init(member: "forged-nobody", sessionVersion: 1), area: "y", idempotencyKey: nil)
            try await stack.askScheduler(.open, request, from: asker, responseTopic: replies, correlation: 7)
            let reply = try #require(try await collector.waitFor(1).first)
            let text = String(decoding: reply.payload, as: UTF8.self)
            #expect(text.contains(#""status":401"#) && text.contains("unauthorized"), "\(text)")
            #expect(try stack.pulsedJobs("pi-y").isEmpty)
        }
    }

    @Test("replies go only to reply topics: a request naming a door's job topic as its response topic is dropped, nothing reaches the device (fails before: the device got a malformed job)")
    func repliesOnlyToReplyTopics() async throws {
        try await DoorStack.with { stack in
            try await stack.addDevice("pi-z", areas: ["z"])
            try await stack.startDevice("pi-z")
            let asker = try await stack.broker.connectedClient()
            let jobs = MessageCollector(try await asker.subscribe(Topic.doorJobs(area: "z")))
            defer { jobs.stop() }
            let request = DoorRPC.JobRequest(jobId: UUID().uuidString.lowercased(), session: .init(member: "nobody", sessionVersion: 1))
            try await stack.askScheduler(.job, request, from: asker, responseTopic: Topic.doorJobs(area: "z"), correlation: 1)
            let scheduler = try #require(stack.scheduler)
            try await waitUntil("the request was dropped") { try await Self.dropped("bad_response_topic", of: scheduler) >= 1 }
            try await Task.sleep(for: .milliseconds(500))
            #expect(jobs.messages.isEmpty)
            let device = try #require(stack.devices["pi-z"]?.process)
            #expect(try await DoorDeviceTests.refusals("malformed", of: device) == 0)
        }
    }

    @Test("the scheduler bounds what it takes: a 100 000-character area is dropped unread, a long one is refused, and no log line grows with it (fails before: a 100 176-character log line)")
    func schedulerBoundsItsInput() async throws {
        try await DoorStack.with { stack in
            let asker = try await stack.broker.connectedClient()
            let replies = "leitstand/reply/bounds-\(UUID().uuidString.prefix(6))"
            let collector = MessageCollector(try await asker.subscribe(replies))
            defer { collector.stop() }
            func ask(area: String, key: String?, correlation: UInt8) async throws {
                let request = DoorRPC.OpenRequest(session: .init(member: "someone", sessionVersion: 1), area: area, idempotencyKey: key)
                try await stack.askScheduler(.open, request, from: asker, responseTopic: replies, correlation: correlation)
            }
            try await ask(area: String(repeating: "a", count: 100_000), key: nil, correlation: 1)
            try await ask(area: String(repeating: "b", count: 5_000), key: nil, correlation: 2)
            try await ask(area: "bounded", key: String(repeating: "k", count: 10_000), correlation: 3)
            let answers = try await collector.waitFor(2)
            let texts = answers.map { String(decoding: $0.payload, as: UTF8.self) }
            #expect(texts.contains { $0.contains(#""status":404"#) && $0.contains("unknown_area") }, "\(texts)")
            #expect(texts.contains { $0.contains(#""status":400"#) && $0.contains("invalid_request") }, "\(texts)")
            let scheduler = try #require(stack.scheduler)
            try await waitUntil("the huge request was dropped") { try await Self.dropped("too_large", of: scheduler) >= 1 }
            #expect(collector.messages.count == 2)
            // What it took from the requests reaches its log (at debug level) only cut to size.
            let output = scheduler.process.output
            for character in ["a", "b", "k"] {
                #expect(!output.contains(String(repeating: character, count: 200)), "a log line carries the request's \(character)s")
            }
        }
    }

    @Test("an Idempotency-Key is 1–128 visible ASCII characters: one letter with thousands of combining marks is refused, not a 503 from an index (fails before: 503)")
    func idempotencyKeyIsBounded() async throws {
        try await DoorStack.with { stack in
            try await stack.addMember("kira", areas: ["k-a"])
            let token = try await stack.token("kira")
            let marks = "a" + String(repeating: "\u{301}", count: 5_000)
            let refused = try await stack.open("k-a", token: token, key: marks)
            #expect(refused.status == 400 && Self.code(refused) == "invalid_request", "\(refused.status) \(refused.text)")
        }
    }

    @Test("a door device may not be named like a service: its account would be the service's (fails before: ingest-writer was locked out)")
    func deviceNamesAreNotServiceNames() async throws {
        try await DoorStack.with { stack in
            for name in ["ingest-writer", "api-gateway", "door-scheduler-2", "leitstand-admin"] {
                await #expect(throws: (any Error).self, "\(name)") { try await stack.cli(["device", "add", name, "--areas", "x"]) }
            }
            let devices = try await stack.cli(["device", "list"])
            #expect(!devices.contains("ingest-writer"))
        }
    }

    // MARK: logins

    @Test("failed logins are throttled per username and client, and per client: a stranger cannot lock a member out, one client cannot try many usernames (fails before: both)")
    func loginThrottlePerClient() async throws {
        // Loopback is a trusted proxy by default: the test's requests come from 127.0.0.1 like a local proxy's.
        try await DoorStack.with { stack in
            try await stack.addMember("quinn", areas: ["l-a"])
            let attacker = ["X-Forwarded-For": "203.0.113.7"]
            for _ in 0..<6 { _ = try await stack.login("quinn", password: "wrong-password", headers: attacker) }
            let locked = try await stack.login("quinn", headers: attacker)
            #expect(locked.status == 429 && Self.code(locked) == "too_many_attempts", "\(locked.text)")
            // The member, from their own address, is not locked out.
            let member = try await stack.login("quinn", headers: ["X-Forwarded-For": "198.51.100.20, 127.0.0.1"])
            #expect(member.status == 200, "\(member.status) \(member.text)")

            // Forty usernames from one address: the address is locked after twenty failures.
            var statuses: [Int] = []
            for index in 0..<40 {
                statuses.append(try await stack.login("user\(index)", password: "whatever-123", headers: ["X-Forwarded-For": "192.0.2.50"]).status)
            }
            #expect(statuses.prefix(20).allSatisfy { $0 == 401 } && statuses.suffix(20).allSatisfy { $0 == 429 }, "\(statuses)")
            // Unknown usernames are counted like real ones (a lock only they reach would tell which exist), and one
            // address adds no more rows than its own limit allows.
            let known = try await stack.login("quinn", password: "wrong-password", headers: ["X-Forwarded-For": "192.0.2.60"])
            var unknown: [Int] = []
            for _ in 0..<6 { unknown.append(try await stack.login("nobody-here", password: "wrong-password", headers: ["X-Forwarded-For": "192.0.2.61"]).status) }
            #expect(known.status == 401 && unknown == [401, 401, 401, 401, 401, 429], "\(unknown)")
            let rows = try await stack.database.client.query("SELECT count(*)::int FROM login_failures WHERE key LIKE '%192.0.2.50%'")
            for try await count in rows.decode(Int.self) { #expect(count <= 21, "\(count) rows") }
        }
    }

    @Test("X-Forwarded-For from a peer that is not a trusted proxy is ignored: it does not get a locked-out guesser a fresh count")
    func forwardedForNeedsATrustedProxy() async throws {
        try await DoorStack.with(gateway: ["LEITSTAND_TRUSTED_PROXIES": "none"]) { stack in
            try await stack.addMember("rosa", areas: ["l-b"])
            for index in 0..<6 {
                _ = try await stack.login("rosa", password: "wrong-password", headers: ["X-Forwarded-For": "203.0.113.\(index)"])
            }
            let locked = try await stack.login("rosa", password: "wrong-password", headers: ["X-Forwarded-For": "203.0.113.99"])
            #expect(locked.status == 429, "\(locked.text)")
        }
    }
}
