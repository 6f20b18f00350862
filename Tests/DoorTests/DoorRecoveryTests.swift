import Contracts
import DoorCrypto
import Foundation
import Logging
import MQTT
import PostgresNIO
import TestSupport
import Testing

/// The door flow when something dies or lies in between (issues 9 and 10): a confirm the scheduler took but never
/// recorded, a job committed but never published, a device secret that does not open, polling devices and their
/// windows, jobs that would confirm late, a device's damaged state, removals and housekeeping.
@Suite("Door recovery: confirms end to end, undispatched and unusable jobs, polling, device state (real processes)")
struct DoorRecoveryTests {
    static func code(_ response: HTTPProbe) -> String? { (try? response.json())?["error"] as? String }

    static func jobRow(_ stack: DoorStack, _ id: String) async throws -> (status: String, code: String?) {
        let rows = try await stack.database.client.query("SELECT status, result_code FROM door_jobs WHERE id = \(UUID(uuidString: id)!)")
        for try await row in rows.decode((String, String?).self) { return row }
        throw TestSupportError("no job \(id)")
    }

    @Test("idle after a door opened, the device, the scheduler and the gateway each use under a tenth of a core (fails before: the device's confirm loop spun at 150 % of a core once its first one-second wait had ended)")
    func idleServicesStayIdle() async throws {
        try await DoorStack.with { stack in
            try await stack.addMember("ida", areas: ["idle"])
            try await stack.addDevice("pi-idle", areas: ["idle"])
            try await stack.startDevice("pi-idle")
            let token = try await stack.token("ida")
            let opened = try await stack.open("idle", token: token)
            let jobID = try #require(try opened.json()["jobId"] as? String, "\(opened.text)")
            try await stack.waitForJob(jobID, token: token, status: "executed")
            // Past the device's first wait for a due confirm (a second), after which the old loop no longer waited.
            try await Task.sleep(for: .seconds(2))

            let processes = [
                try #require(stack.devices["pi-idle"]?.process).process, try #require(stack.scheduler).process, stack.gateway.process,
            ]
            let before = processes.map(\.cpuTime)
            let window = Duration.seconds(3)
            try await Task.sleep(for: window)
            for (process, start) in zip(processes, before) {
                let used = try #require(process.cpuTime) - (try #require(start))
                #expect(used < window / 10, "\(process.name) used \(used) of CPU in \(window) idle")
            }
        }
    }

    @Test("a confirm the scheduler took but could not record (its database connection failed, then it was killed): the device sends it again until it has a receipt, and the job ends executed (fails before: the confirm was lost and the job expired)")
    func confirmSurvivesTheScheduler() async throws {
        try await DoorStack.with { stack in
            try await stack.addMember("ulla", areas: ["c"])
            try await stack.addDevice("pi-c", areas: ["c"])
            try await stack.startDevice("pi-c")
            let token = try await stack.token("ulla")
            // The device is paused (still online for the broker), so that its confirm comes only once the row is held.
            let device = try #require(stack.devices["pi-c"]?.process)
            device.process.signal(SIGSTOP)
            let opened = try await stack.open("c", token: token)
            let jobID = try #require(try opened.json()["jobId"] as? String, "\(opened.text)")
            try await stack.waitForJob(jobID, token: token, status: "dispatched", timeout: .seconds(10))

            // Another connection holds the job's row, so the scheduler's confirm waits for it after libmosquitto has
            // already acknowledged the message to the broker; then that wait fails (its connection is terminated, as
            // a database restart would) and the scheduler is killed.
            let (release, releaseNow) = AsyncStream<Void>.makeStream()
            let (held, heldNow) = AsyncStream<Void>.makeStream()
            let holder = Task {
                let logger = Logger(label: "row-lock")
                try await stack.database.client.withTransaction(logger: logger) { connection in
                    try await connection.query("SELECT 1 FROM door_jobs WHERE id = \(UUID(uuidString: jobID)!) FOR UPDATE", logger: logger)
                    heldNow.yield()
                    var iterator = release.makeAsyncIterator()
                    _ = await iterator.next()
                }
            }
            var heldIterator = held.makeAsyncIterator()
            _ = await heldIterator.next()
            device.process.signal(SIGCONT)
            try await waitUntil("the relay pulsed") { (try? stack.pulsedJobs("pi-c")) == [jobID] }
            try await waitUntil("the scheduler waits for the row to record the confirm") {
                let rows = try await stack.database.client.query(
                    "SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                for try await count in rows.decode(Int.self) { return count >= 1 }
                return false
            }
            try await stack.database.client.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            try await Task.sleep(for: .milliseconds(300))
            try await stack.stopScheduler(signal: SIGKILL)
            releaseNow.yield()
            try await holder.value
            try await stack.startScheduler()

            let job = try await stack.waitForJob(jobID, token: token, status: "executed", timeout: .seconds(25))
            #expect(job["resultCode"] as? String == "OK")
            #expect(try stack.pulsedJobs("pi-c") == [jobID])
            try await waitUntil("the device has its receipt") { try await DoorStack.metric("leitstand_device_confirms_pending", of: device) == 0 }
        }
    }

    @Test("a job committed but never published (its scheduler died in between) is expired NOT_DISPATCHED and never sent: its member was already told it failed (fails before: it waited its window, pending)")
    func undispatchedJobIsExpired() async throws {
        try await DoorStack.with { stack in
            try await stack.addMember("vera", areas: ["d"])
            try await stack.addDevice("pi-d", areas: ["d"])
            try await stack.startDevice("pi-d")
            let id = UUID()
            try await stack.database.client.query(
                """
                INSERT INTO door_jobs (id, area, member, device_id, nonce, pulse_ms, status, created_at, expires_at, dispatch_by)
                VALUES (\(id), 'd', 'vera', 'pi-d', 'abc123', 100, 'pending', now() - interval '8 seconds',
                        now() + interval '22 seconds', now() - interval '6 seconds')
                """
            )
            try await waitUntil("the job is expired", timeout: .seconds(10)) { try await Self.jobRow(stack, id.uuidString.lowercased()).status == "expired" }
            #expect(try await Self.jobRow(stack, id.uuidString.lowercased()).code == "NOT_DISPATCHED")
            let audit = try await stack.database.client.query("SELECT count(*)::int FROM audit_log WHERE type = 'door.job_not_dispatched'")
            for try await count in audit.decode(Int.self) { #expect(count == 1) }
            #expect(try stack.pulsedJobs("pi-d").isEmpty)
            // The area is free again at once.
            let token = try await stack.token("vera")
            #expect(try await stack.open("d", token: token).status == 202)
        }
    }

    @Test("a device whose secret does not open: 503 device_misconfigured, the job failed at once with SECRET_UNREADABLE, the area not blocked (fails before: 503 scheduler_unavailable and a pending job that blocked the area)")
    func unreadableSecretFailsAtOnce() async throws {
        try await DoorStack.with(scheduler: ["LEITSTAND_DOOR_MEMBER_AREA_LOCK_S": "0"]) { stack in
            try await stack.addMember("wim", areas: ["e"])
            try await stack.addDevice("pi-e", areas: ["e"])
            try await stack.startDevice("pi-e")
            try await stack.database.client.query("UPDATE devices SET secret_sealed = decode(repeat('00', 60), 'hex') WHERE id = 'pi-e'")
            let token = try await stack.token("wim")
            let first = try await stack.open("e", token: token)
            #expect(first.status == 503 && Self.code(first) == "device_misconfigured", "\(first.text)")
            let rows = try await stack.database.client.query("SELECT status, result_code FROM door_jobs WHERE area = 'e'")
            var jobs: [(String, String?)] = []
            for try await row in rows.decode((String, String?).self) { jobs.append(row) }
            #expect(jobs.count == 1 && jobs.first?.0 == "failed" && jobs.first?.1 == "SECRET_UNREADABLE", "\(jobs)")
            let second = try await stack.open("e", token: token)
            #expect(Self.code(second) == "device_misconfigured", "\(second.text)")
            #expect(try stack.pulsedJobs("pi-e").isEmpty)
        }
    }

    @Test("a polling device's confirm window starts when it picks the job up (seed 000), not when the job was made (fails before: the window had shrunk by the wait)")
    func pollWindowStartsAtPickup() async throws {
        try await DoorStack.with(scheduler: ["LEITSTAND_CONFIRM_WINDOW_S": "10", "LEITSTAND_DOOR_POLL_PRESENCE_S": "30"]) { stack in
            try await stack.addMember("xena", areas: ["f"])
            let device = try await stack.addDevice("pi-f", areas: ["f"])
            let secret = ["X-Device-Secret": device.secret]
            #expect(try await stack.request("GET", "/api/device/poll/pi-f", headers: secret).status == 200)
            let token = try await stack.token("xena")
            let opened = try await stack.open("f", token: token)
            #expect(opened.status == 202, "\(opened.text)")
            try await Task.sleep(for: .seconds(4))
            let poll = try await stack.request("GET", "/api/device/poll/pi-f", headers: secret)
            let jobs = try #require(try poll.json()["jobs"] as? [[String: Any]])
            let left = try #require(jobs.first?["expiresInMs"] as? Int)
            #expect(left > 9_000, "\(left) ms left of a 10 s window after the pickup")
        }
    }

    @Test("a polling device stays present for about two of its poll intervals, not a fixed 10 s (fails before: a Pi polling every few seconds flipped to door_offline)")
    func pollPresenceFollowsTheInterval() async throws {
        try await DoorStack.with(scheduler: ["LEITSTAND_DOOR_POLL_PRESENCE_S": "2"]) { stack in
            try await stack.addMember("yara", areas: ["g"])
            let device = try await stack.addDevice("pi-g", areas: ["g"])
            let secret = ["X-Device-Secret": device.secret]
            #expect(try await stack.request("GET", "/api/device/poll/pi-g", headers: secret).status == 200)
            try await Task.sleep(for: .seconds(4))
            #expect(try await stack.request("GET", "/api/device/poll/pi-g", headers: secret).status == 200)
            try await Task.sleep(for: .seconds(3))
            let token = try await stack.token("yara")
            let opened = try await stack.open("g", token: token)
            #expect(opened.status == 202, "\(opened.status) \(opened.text)")
        }
    }

    @Test("a job whose window ends before its pulse would is refused by the device (its confirm could only be late; fails before: pulsed)")
    func jobExpiringDuringItsPulseIsRefused() async throws {
        try await DoorStack.with { stack in
            let device = try await stack.addDevice("pi-h", areas: ["h"])
            try await stack.startDevice("pi-h")
            let publisher = try await stack.broker.connectedClient()
            var job = DoorDeviceTests.job(area: "h", device: "pi-h", expiresIn: 2)
            job.pulseMs = 3_000
            try await publisher.publish(Topic.doorJobs(area: "h"), payload: try ContractCoding.encode(job.signed(with: device.secret)))
            let process = try #require(stack.devices["pi-h"]?.process)
            try await waitUntil("the job is refused") { try await DoorDeviceTests.refusals("expires_during_pulse", of: process) == 1 }
            #expect(try stack.pulsedJobs("pi-h").isEmpty)
        }
    }

    @Test("a device whose seen-jobs file cannot be read refuses to start, naming the file (fails before: it started with the file emptied)")
    func damagedSeenJobsStopTheDevice() async throws {
        let directory = try makeTemporaryDirectory("seen-damaged")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("seen-jobs")
        try Data([0x61, 0x20, 0x31, 0x0a, 0xff, 0xfe, 0x0a]).write(to: file)
        let process = try ChildProcess(
            name: "pi-door-client", executable: try projectExecutable("pi-door-client"),
            environment: [
                "LEITSTAND_MQTT_URL": "mqtt://pi-1:\(randomSecret())@127.0.0.1:1", "LEITSTAND_DEVICE_ID": "pi-1",
                "LEITSTAND_DEVICE_SECRET": randomSecret() + randomSecret(), "LEITSTAND_AREAS": "a",
                "LEITSTAND_GPIO": "sim:\(directory.path)/pulses.jsonl", "LEITSTAND_STATE_DIR": directory.path,
                "LEITSTAND_HTTP_PORT": "\(try freeTCPPort())",
            ],
            outputFile: directory.appendingPathComponent("output.log")
        )
        let code = try await process.waitForExit(timeout: .seconds(20))
        #expect(code == 78, "\(process.output)")
        #expect(process.output.contains("seen-jobs") && process.output.contains("refuses to start"), "\(process.output)")
        #expect(try Data(contentsOf: file) == Data([0x61, 0x20, 0x31, 0x0a, 0xff, 0xfe, 0x0a]), "the file was rewritten")
    }

    @Test("device remove: the device's secret and broker user are gone at once; its jobs stay (fails before: no such command)")
    func deviceRemove() async throws {
        try await DoorStack.with(scheduler: ["LEITSTAND_DOOR_MEMBER_AREA_LOCK_S": "0"]) { stack in
            try await stack.addMember("zoe", areas: ["k"])
            try await stack.addDevice("pi-k", areas: ["k"])
            try await stack.startDevice("pi-k")
            let token = try await stack.token("zoe")
            let opened = try await stack.open("k", token: token)
            let jobID = try #require(try opened.json()["jobId"] as? String)
            try await stack.waitForJob(jobID, token: token, status: "executed")

            let output = try await stack.cli(["device", "remove", "pi-k"])
            #expect(output.contains("device pi-k removed"), "\(output)")
            #expect(!(try await stack.cli(["device", "list"]).contains("pi-k")))
            // Its broker user is gone: it cannot connect any more.
            let url = try #require(stack.devices["pi-k"]?.mqttURL)
            let client = try stack.broker.client(try MQTTConfiguration(url: url, clientID: "pi-k"))
            await #expect(throws: (any Error).self) { try await client.connect(timeout: .seconds(3)) }
            let refused = try await stack.open("k", token: token)
            #expect(refused.status == 503 && Self.code(refused) == "door_offline", "\(refused.text)")
            #expect(try await stack.job(jobID, token: token)["status"] as? String == "executed")
        }
    }

    @Test("housekeeping --dry-run counts and deletes nothing; without it the old finished jobs go and their audit entries stay")
    func housekeepingDryRun() async throws {
        try await DoorStack.with { stack in
            try await stack.database.client.query("INSERT INTO areas (name) VALUES ('old') ON CONFLICT DO NOTHING")
            try await stack.database.client.query(
                """
                INSERT INTO door_jobs (id, area, member, nonce, pulse_ms, status, created_at, expires_at)
                VALUES (\(UUID()), 'old', 'someone', 'n', 100, 'executed', now() - interval '100 days', now() - interval '100 days')
                """
            )
            let dry = try await stack.cli(["housekeeping", "--older-than", "90d", "--dry-run"])
            #expect(dry.contains("would delete 1 door jobs"), "\(dry)")
            let kept = try await stack.database.client.query("SELECT count(*)::int FROM door_jobs")
            for try await count in kept.decode(Int.self) { #expect(count == 1) }
            let done = try await stack.cli(["housekeeping", "--older-than", "90d"])
            #expect(done.contains("deleted 1 door jobs"), "\(done)")
        }
    }

    @Test("a door device's restart is audited through the gateway, although the device has no database (fails before: no audit row)")
    func deviceRestartIsAudited() async throws {
        try await DoorStack.with { stack in
            try await stack.addDevice("pi-m", areas: ["m"])
            try await stack.startDevice("pi-m")
            let operatorClient = try await stack.operatorClient()
            let command = RestartCommand(reason: "new relay board", requestedBy: "operator:alex")
            try await operatorClient.publish(Topic.deviceRestart("pi-m"), payload: try ContractCoding.encode(command))
            await operatorClient.disconnect()
            let process = try #require(stack.devices["pi-m"]?.process)
            #expect(try await process.process.waitForExit(timeout: .seconds(15)) == 75)
            try await waitUntil("the restart is in the audit log") {
                let rows = try await stack.database.client.query(
                    "SELECT count(*)::int FROM audit_log WHERE service = 'pi-m' AND type = 'service.restart_requested' AND actor = 'operator:alex'"
                )
                for try await count in rows.decode(Int.self) { return count == 1 }
                return false
            }
            // A device may relay only what it did with a restart command: not what an operator did, not at a time of
            // its choosing (fails before: a device wrote "member.removed" as "operator:root" dated 9999).
            let url = try #require(stack.devices["pi-m"]?.mqttURL)
            var configuration = try MQTTConfiguration(url: url, clientID: "pi-m")
            configuration.responseTopic = Topic.replies(clientID: "pi-m")
            let forger = try stack.broker.client(configuration)
            try await forger.connect()
            for (type, at) in [("member.removed", Date(timeIntervalSince1970: 253_402_300_000)), ("service.restart_requested", Date(timeIntervalSince1970: 253_402_300_000))] {
                let record = AuditRecord(at: at, actor: "operator:root@admin-host", type: type, subject: type == "member.removed" ? "member:demo" : "service:pi-door-client", detail: "{}")
                _ = try? await forger.request(Topic.audit("pi-m"), payload: try ContractCoding.encode(record), timeout: .seconds(3))
            }
            let forged = try await stack.database.client.query("SELECT count(*)::int FROM audit_log WHERE type = 'member.removed' OR at > now() + interval '1 day'")
            for try await count in forged.decode(Int.self) { #expect(count == 0) }
        }
    }

    @Test("a job that reaches the device after its member's request ran out is refused (a broker that stalled after taking it; fails before: pulsed)")
    func lateDeliveryIsRefused() async throws {
        try await DoorStack.with { stack in
            let device = try await stack.addDevice("pi-n", areas: ["n"])
            try await stack.startDevice("pi-n")
            let publisher = try await stack.broker.connectedClient()
            var late = DoorDeviceTests.job(area: "n", device: "pi-n")
            late.deliverByMs = Int64(Date().addingTimeInterval(-1).timeIntervalSince1970 * 1_000)
            var timely = DoorDeviceTests.job(area: "n", device: "pi-n")
            timely.deliverByMs = Int64(Date().addingTimeInterval(10).timeIntervalSince1970 * 1_000)
            for job in [late, timely] {
                try await publisher.publish(Topic.doorJobs(area: "n"), payload: try ContractCoding.encode(job.signed(with: device.secret)))
            }
            let process = try #require(stack.devices["pi-n"]?.process)
            try await waitUntil("the late job is refused") { try await DoorDeviceTests.refusals("delivered_late", of: process) == 1 }
            try await waitUntil("the timely job is pulsed") { (try? stack.pulsedJobs("pi-n")) == [timely.jobId] }
            // The deadline is signed: moved later, the job does not verify.
            var moved = late
            moved.jobId = UUID().uuidString.lowercased()
            let signed = moved.signed(with: device.secret)
            var tampered = signed
            tampered.deliverByMs = Int64(Date().addingTimeInterval(10).timeIntervalSince1970 * 1_000)
            try await publisher.publish(Topic.doorJobs(area: "n"), payload: try ContractCoding.encode(tampered))
            try await waitUntil("the moved deadline is refused") { try await DoorDeviceTests.refusals("bad_signature", of: process) == 1 }
            #expect(try stack.pulsedJobs("pi-n") == [timely.jobId])
        }
    }

    @Test("a receipt the scheduler did not sign ends nothing; a confirm naming another device's reply topic gets no receipt there (fails before: a forged receipt made the device drop its confirm)")
    func receiptsAreTheSchedulers() async throws {
        try await DoorStack.with(scheduler: ["LEITSTAND_PULSE_MS": "2000"]) { stack in
            try await stack.addMember("olga", areas: ["p"])
            try await stack.addDevice("pi-p", areas: ["p"])
            try await stack.addDevice("pi-q", areas: ["q"])
            try await stack.startDevice("pi-p")
            let token = try await stack.token("olga")
            let watcher = try await stack.broker.connectedClient()
            let confirms = MessageCollector(try await watcher.subscribe(Topic.doorConfirm(area: "p")))
            let otherReplies = MessageCollector(try await watcher.subscribe(Topic.replies(clientID: "pi-q")))
            defer { confirms.stop(); otherReplies.stop() }
            let opened = try await stack.open("p", token: token)
            let jobID = try #require(try opened.json()["jobId"] as? String, "\(opened.text)")
            try await stack.waitForJob(jobID, token: token, status: "dispatched", timeout: .seconds(10))
            // No scheduler: the confirm stays pending on the device, sent again and again.
            try await stack.stopScheduler()
            let confirm = try #require(try await confirms.waitFor(1, timeout: .seconds(15)).first)
            // What an account that can read the confirm (the watch account) and publish replies would send.
            let forged = DoorConfirmReceipt(jobId: jobID, status: .executed, sig: String(repeating: "0", count: 64))
            try await watcher.publish(
                Topic.replies(clientID: "pi-p"), payload: try ContractCoding.encode(forged),
                properties: MQTTPublishProperties(correlationData: confirm.correlationData)
            )
            let device = try #require(stack.devices["pi-p"]?.process)
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await DoorStack.metric("leitstand_device_confirms_pending", of: device) == 1)
            // The same confirm again, naming another device's reply topic: recorded, but answered to nobody else.
            var reflected = MQTTPublishProperties(responseTopic: Topic.replies(clientID: "pi-q"), correlationData: Data([9]))
            reflected.messageExpiry = .seconds(60)
            try await watcher.publish(Topic.doorConfirm(area: "p"), payload: confirm.payload, properties: reflected)
            try await stack.startScheduler()
            try await stack.waitForJob(jobID, token: token, status: "executed", timeout: .seconds(25))
            try await waitUntil("the device has its real receipt", timeout: .seconds(20)) {
                try await DoorStack.metric("leitstand_device_confirms_pending", of: device) == 0
            }
            #expect(otherReplies.messages.isEmpty)
        }
    }
}
