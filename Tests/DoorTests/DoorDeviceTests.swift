import Contracts
import DoorCrypto
import Foundation
import MQTT
import TestSupport
import Testing

/// The door device and its links: what it refuses to pulse, restarts on both sides, secret rotation, the HTTP
/// fallback, and what the broker lets a device do.
@Suite("Door devices: checks before a pulse, restarts, rotation, HTTP fallback, broker rights (real processes)")
struct DoorDeviceTests {
    static func code(_ response: HTTPProbe) -> String? { (try? response.json())?["error"] as? String }

    static func job(_ id: String = UUID().uuidString.lowercased(), area: String, device: String, expiresIn: TimeInterval = 30) -> DoorJob {
        DoorJob(jobId: id, area: area, deviceId: device, nonce: "n-\(id.prefix(8))", pulseMs: 50, expiresAt: Date().addingTimeInterval(expiresIn).rounded())
    }

    static func refusals(_ reason: String, of device: ServiceProcess) async throws -> Double {
        try await DoorStack.metric("leitstand_device_jobs_refused_total{reason=\"\(reason)\"}", of: device)
    }

    @Test("a job with a bad signature, for another device or area, past expiresAt, malformed, repeated (QoS 1 duplicate, or after a restart) or retained is never pulsed")
    func devicePulsesOnlyValidJobs() async throws {
        try await DoorStack.with { stack in
            let device = try await stack.addDevice("pi-x", areas: ["x"])
            try await stack.startDevice("pi-x")
            let publisher = try await stack.broker.connectedClient()
            let topic = Topic.doorJobs(area: "x")
            func send(_ job: DoorJob, retain: Bool = false) async throws {
                try await publisher.publish(topic, payload: try ContractCoding.encode(job), retain: retain)
            }
            try await send(Self.job(area: "x", device: "pi-x").signed(with: "not-the-device-secret-at-all"))
            try await send(Self.job(area: "x", device: "pi-other").signed(with: device.secret))
            try await send(Self.job(area: "y", device: "pi-x").signed(with: device.secret))
            try await send(Self.job(area: "x", device: "pi-x", expiresIn: -5).signed(with: device.secret))
            try await publisher.publish(topic, payload: Data("{not json".utf8))
            // A valid job, delivered twice as a QoS 1 redelivery would be.
            let valid = Self.job(area: "x", device: "pi-x").signed(with: device.secret)
            try await send(valid)
            try await send(valid)
            let process = try #require(stack.devices["pi-x"]?.process)
            try await waitUntil("the valid job is pulsed") { (try? stack.pulsedJobs("pi-x")) == [valid.jobId] }
            try await waitUntil("every refusal is counted") { (try? await Self.refusals("duplicate", of: process)) == 1 }
            #expect(try await Self.refusals("bad_signature", of: process) == 1)
            #expect(try await Self.refusals("other_device", of: process) == 1)
            #expect(try await Self.refusals("wrong_area", of: process) == 1)
            #expect(try await Self.refusals("expired", of: process) == 1)
            #expect(try await Self.refusals("malformed", of: process) == 1)

            // While the device is away: the same job again, and a valid job left retained on the topic.
            await stack.stopDevice("pi-x")
            let retained = Self.job(area: "x", device: "pi-x").signed(with: device.secret)
            try await send(retained, retain: true)
            try await stack.startDevice("pi-x")
            try await send(valid)
            let restarted = try #require(stack.devices["pi-x"]?.process)
            try await waitUntil("the repeated job is refused after the restart") { (try? await Self.refusals("duplicate", of: restarted)) == 1 }
            // A new job after all that: had the retained one been taken, it would have pulsed first (and this one
            // would have joined its pulse).
            let marker = Self.job(area: "x", device: "pi-x").signed(with: device.secret)
            try await send(marker)
            try await waitUntil("the new job is pulsed") { (try? stack.pulsedJobs("pi-x").count) ?? 0 >= 2 }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try stack.pulsedJobs("pi-x") == [valid.jobId, marker.jobId], "the retained or the repeated job was pulsed")
            try await publisher.publish(topic, payload: Data(), retain: true)
        }
    }

    @Test("a job issued by a clock 10 s away is still checked by expiresAt, and the device warns about the skew")
    func clockSkewWarning() async throws {
        try await DoorStack.with { stack in
            let device = try await stack.addDevice("pi-clock", areas: ["c"])
            try await stack.startDevice("pi-clock")
            let publisher = try await stack.broker.connectedClient()
            var job = Self.job(area: "c", device: "pi-clock")
            job.issuedAt = Date().addingTimeInterval(-10)
            try await publisher.publish(Topic.doorJobs(area: "c"), payload: try ContractCoding.encode(job.signed(with: device.secret)))
            try await waitUntil("the job is pulsed") { (try? stack.pulsedJobs("pi-clock")) == [job.jobId] }
            let process = try #require(stack.devices["pi-clock"]?.process)
            #expect(process.process.output.contains("clock differs from the scheduler"))
            let skew = try await DoorStack.metric("leitstand_device_clock_skew_seconds", of: process)
            #expect(skew > 9 && skew < 20, "\(skew)")
        }
    }

    @Test("the scheduler and the device refuse to start on unusable configuration, naming each variable (exit 78)")
    func configurationErrors() async throws {
        let directory = try makeTemporaryDirectory("door-config")
        defer { try? FileManager.default.removeItem(at: directory) }
        func run(_ executable: String, _ environment: [String: String]) async throws -> (Int32, String) {
            let process = try ChildProcess(
                name: executable, executable: try projectExecutable(executable), environment: environment,
                outputFile: directory.appendingPathComponent("\(executable)-\(UUID()).log")
            )
            return (try await process.waitForExit(timeout: .seconds(20)), process.output)
        }
        let broker = "mqtt://u:p@127.0.0.1:1"
        let (scheduler, schedulerOutput) = try await run("door-scheduler", [
            "LEITSTAND_MQTT_URL": broker, "LEITSTAND_DATABASE_URL": "postgres://u:p@127.0.0.1:1/x",
            "LEITSTAND_SECRET_KEY": "too-short", "LEITSTAND_CONFIRM_WINDOW_S": "0",
        ])
        #expect(scheduler == 78)
        #expect(schedulerOutput.contains("LEITSTAND_SECRET_KEY") && schedulerOutput.contains("LEITSTAND_CONFIRM_WINDOW_S"), "\(schedulerOutput)")
        let (device, deviceOutput) = try await run("pi-door-client", [
            "LEITSTAND_MQTT_URL": broker, "LEITSTAND_DEVICE_ID": "pi-1", "LEITSTAND_DEVICE_SECRET": "short",
            "LEITSTAND_GPIO": "sim:\(directory.path)/pulses.jsonl", "LEITSTAND_STATE_DIR": "\(directory.path)/missing",
        ])
        #expect(device == 78)
        for variable in ["LEITSTAND_DEVICE_SECRET", "LEITSTAND_AREAS", "LEITSTAND_STATE_DIR"] {
            #expect(deviceOutput.contains(variable), "\(variable): \(deviceOutput)")
        }
        #expect(!deviceOutput.contains("short\n"), "a secret value in the output")
        let (noLine, noLineOutput) = try await run("pi-door-client", [
            "LEITSTAND_MQTT_URL": broker, "LEITSTAND_DEVICE_ID": "pi-1", "LEITSTAND_DEVICE_SECRET": randomSecret() + randomSecret(),
            "LEITSTAND_AREAS": "a", "LEITSTAND_GPIO": "chip=gpiochip-missing,line=3", "LEITSTAND_STATE_DIR": directory.path,
        ])
        #expect(noLine == 78 && noLineOutput.contains("LEITSTAND_GPIO") && noLineOutput.contains("gpiochip-missing"), "\(noLineOutput)")
    }

    @Test("test-relay pulses the relay once, locally; a pulse beyond 10 s or an unusable LEITSTAND_GPIO is refused")
    func testRelay() async throws {
        let directory = try makeTemporaryDirectory("test-relay")
        defer { try? FileManager.default.removeItem(at: directory) }
        let pulses = directory.appendingPathComponent("pulses.jsonl")
        func run(_ arguments: [String], gpio: String) async throws -> (Int32, String) {
            let process = try ChildProcess(
                name: "pi-door-client \(arguments.joined(separator: " "))", executable: try projectExecutable("pi-door-client"),
                arguments: arguments, environment: ["LEITSTAND_GPIO": gpio], outputFile: directory.appendingPathComponent("output-\(UUID()).log")
            )
            return (try await process.waitForExit(timeout: .seconds(20)), process.output)
        }
        let (code, output) = try await run(["test-relay", "--ms", "120"], gpio: "sim:\(pulses.path)")
        #expect(code == 0 && output.contains("relay pulsed for 120 ms"), "\(output)")
        let lines = try String(contentsOf: pulses, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("\"pulseMs\":120") && !lines[0].contains("jobId"))
        let (tooLong, tooLongOutput) = try await run(["test-relay", "--ms", "20000"], gpio: "sim:\(pulses.path)")
        #expect(tooLong != 0 && tooLongOutput.contains("10000"), "\(tooLongOutput)")
        let (noLine, noLineOutput) = try await run(["test-relay"], gpio: "chip=gpiochip-missing,line=3")
        #expect(noLine != 0 && noLineOutput.contains("gpiochip-missing"), "\(noLineOutput)")
        #expect(try String(contentsOf: pulses, encoding: .utf8).split(separator: "\n").count == 1)
    }

    @Test("the scheduler SIGKILLed between dispatch and confirm: the confirm waits in its session and is recorded after the restart")
    func schedulerKilledBeforeConfirm() async throws {
        try await DoorStack.with(scheduler: ["LEITSTAND_PULSE_MS": "1500"]) { stack in
            try await stack.addMember("ida", areas: ["i"])
            try await stack.addDevice("pi-i", areas: ["i"])
            try await stack.startDevice("pi-i")
            let token = try await stack.token("ida")
            let opened = try await stack.open("i", token: token)
            #expect(opened.status == 202)
            let jobID = try #require(try opened.json()["jobId"] as? String)
            // The 202 goes out before the job (the door may open only once its member's answer is on its way).
            try await stack.waitForJob(jobID, token: token, status: "dispatched")
            try await stack.stopScheduler(signal: SIGKILL)
            // The device finishes its pulse and confirms while no scheduler runs.
            try await waitUntil("the relay pulsed") { (try? stack.pulsedJobs("pi-i")) == [jobID] }
            try await Task.sleep(for: .milliseconds(300))
            try await stack.startScheduler()
            let job = try await stack.waitForJob(jobID, token: token, status: "executed")
            #expect(job["resultCode"] as? String == "OK")
        }
    }

    @Test("rotation: during the grace both secrets work (a device with either pulses and confirms); after it only the new one")
    func secretRotation() async throws {
        try await DoorStack.with(scheduler: ["LEITSTAND_DOOR_MEMBER_AREA_LOCK_S": "0", "LEITSTAND_CONFIRM_WINDOW_S": "6"]) { stack in
            try await stack.addMember("jan", areas: ["r"])
            let original = try await stack.addDevice("pi-r", areas: ["r"])
            try await stack.startDevice("pi-r")
            let token = try await stack.token("jan")
            func openAndWait(_ status: String) async throws -> String {
                let opened = try await stack.open("r", token: token)
                #expect(opened.status == 202, "\(opened.text)")
                let jobID = try #require(try opened.json()["jobId"] as? String)
                try await stack.waitForJob(jobID, token: token, status: status)
                return jobID
            }

            let rotated = try await stack.cli(["device", "rotate-secret", "pi-r", "--grace", "1h"])
            let newSecret = try #require(rotated.split(separator: "\n").first { $0.hasPrefix("LEITSTAND_DEVICE_SECRET=") }.map { String($0.dropFirst(24)) })
            #expect(newSecret != original.secret)
            // The device still holds only the old secret: it verifies the job and its confirm is accepted.
            _ = try await openAndWait("executed")
            // Updated device: the new secret, the old one as previous.
            await stack.stopDevice("pi-r")
            try await stack.startDevice("pi-r", environment: ["LEITSTAND_DEVICE_SECRET": newSecret, "LEITSTAND_DEVICE_SECRET_PREVIOUS": original.secret])
            _ = try await openAndWait("executed")
            #expect(try await stack.request("GET", "/api/device/poll/pi-r", headers: ["X-Device-Secret": original.secret]).status == 200)

            // A rotation with no grace: the secret the device holds is no longer valid anywhere.
            let again = try await stack.cli(["device", "rotate-secret", "pi-r", "--grace", "0s"])
            let newest = try #require(again.split(separator: "\n").first { $0.hasPrefix("LEITSTAND_DEVICE_SECRET=") }.map { String($0.dropFirst(24)) })
            let refusedJob = try await openAndWait("expired")
            #expect(try !stack.pulsedJobs("pi-r").contains(refusedJob))
            let process = try #require(stack.devices["pi-r"]?.process)
            #expect(try await Self.refusals("bad_signature", of: process) == 1)
            #expect(try await stack.request("GET", "/api/device/poll/pi-r", headers: ["X-Device-Secret": newSecret]).status == 403)
            #expect(try await stack.request("GET", "/api/device/poll/pi-r", headers: ["X-Device-Secret": newest]).status == 200)
        }
    }

    @Test("a confirm signed with a secret revoked since the scheduler last used it is refused; the new secret's is recorded")
    func confirmWithRevokedSecret() async throws {
        try await DoorStack.with(scheduler: ["LEITSTAND_DOOR_MEMBER_AREA_LOCK_S": "0", "LEITSTAND_CONFIRM_WINDOW_S": "8"]) { stack in
            try await stack.addMember("ida", areas: ["v"])
            let device = try await stack.addDevice("pi-v", areas: ["v"])
            let token = try await stack.token("ida")
            let publisher = try await stack.broker.connectedClient()
            let scheduler = try #require(stack.scheduler)
            // The benchmark of a device: present through the HTTP poll, confirming over MQTT as a device would.
            func openAndPoll(secret: String) async throws -> (id: String, nonce: String) {
                _ = try await stack.request("GET", "/api/device/poll/pi-v", headers: ["X-Device-Secret": secret])
                let opened = try await stack.open("v", token: token)
                #expect(opened.status == 202, "\(opened.text)")
                let id = try #require(try opened.json()["jobId"] as? String)
                let polled = try await stack.request("GET", "/api/device/poll/pi-v", headers: ["X-Device-Secret": secret])
                let nonce = try #require((try polled.json()["jobs"] as? [[String: Any]])?.first?["nonce"] as? String)
                return (id, nonce)
            }
            func confirm(_ job: (id: String, nonce: String), signedWith secret: String) async throws {
                let confirm = DoorConfirm(jobId: job.id, deviceId: "pi-v", nonce: job.nonce, result: .executed, code: "OK", message: "pulsed", pulsedAt: Date())
                try await publisher.publish(Topic.doorConfirm(area: "v"), payload: try ContractCoding.encode(confirm.signed(with: secret)))
            }

            // The scheduler reads the device's secret with its first confirm and keeps it.
            let first = try await openAndPoll(secret: device.secret)
            try await confirm(first, signedWith: device.secret)
            try await stack.waitForJob(first.id, token: token, status: "executed")

            let rotated = try await stack.cli(["device", "rotate-secret", "pi-v", "--grace", "0s"])
            let newSecret = try #require(rotated.split(separator: "\n").first { $0.hasPrefix("LEITSTAND_DEVICE_SECRET=") }.map { String($0.dropFirst(24)) })
            let second = try await openAndPoll(secret: newSecret)
            try await confirm(second, signedWith: device.secret)
            let deadline = ContinuousClock.now + .seconds(10)
            while try await DoorStack.metric("leitstand_door_confirms_refused_total{reason=\"bad_signature\"}", of: scheduler) < 1 {
                guard ContinuousClock.now < deadline else { Issue.record("the revoked secret's confirm was not refused"); return }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try await stack.job(second.id, token: token)["status"] as? String == "dispatched")
            try await confirm(second, signedWith: newSecret)
            try await stack.waitForJob(second.id, token: token, status: "executed")
        }
    }

    @Test("the HTTP poll/confirm fallback end to end, with 403 device_forbidden/nonce_mismatch/device_mismatch, 409 and 410")
    func httpFallback() async throws {
        try await DoorStack.with(scheduler: ["LEITSTAND_DOOR_MEMBER_AREA_LOCK_S": "0", "LEITSTAND_CONFIRM_WINDOW_S": "8"]) { stack in
            try await stack.addMember("kai", areas: ["p"])
            let device = try await stack.addDevice("pi-p", areas: ["p"])
            let other = try await stack.addDevice("pi-q", areas: ["q"])
            let token = try await stack.token("kai")
            let secret = ["X-Device-Secret": device.secret]
            func poll() async throws -> [[String: Any]] {
                let response = try await stack.request("GET", "/api/device/poll/pi-p", headers: secret)
                #expect(response.status == 200, "\(response.text)")
                return try response.json()["jobs"] as? [[String: Any]] ?? []
            }
            func confirm(_ jobID: String, deviceID: String = "pi-p", nonce: String, result: String = "executed", secret deviceSecret: String? = nil) async throws -> HTTPProbe {
                let body = try JSONSerialization.data(withJSONObject: ["deviceId": deviceID, "nonce": nonce, "result": result, "message": "pulsed"])
                return try await stack.request("POST", "/api/device/confirm/\(jobID)", body: body, headers: ["X-Device-Secret": deviceSecret ?? device.secret])
            }

            #expect(try await stack.open("p", token: token).status == 503)
            #expect(try await stack.request("GET", "/api/device/poll/pi-p").status == 403)
            #expect(Self.code(try await stack.request("GET", "/api/device/poll/pi-p", headers: ["X-Device-Secret": "wrong"])) == "device_forbidden")
            #expect(try await poll().isEmpty)  // the poll is the device's presence
            let opened = try await stack.open("p", token: token)
            #expect(opened.status == 202, "\(opened.text)")
            let jobID = try #require(try opened.json()["jobId"] as? String)
            #expect(try await stack.job(jobID, token: token)["status"] as? String == "pending")
            let jobs = try await poll()
            #expect(jobs.count == 1 && jobs.first?["jobId"] as? String == jobID && jobs.first?["area"] as? String == "p")
            #expect((jobs.first?["expiresInMs"] as? Int ?? 0) > 1_000)
            let nonce = try #require(jobs.first?["nonce"] as? String)
            #expect(try await stack.job(jobID, token: token)["status"] as? String == "dispatched")

            #expect(Self.code(try await confirm(jobID, nonce: nonce, secret: "wrong")) == "device_forbidden")
            #expect(Self.code(try await confirm(jobID, nonce: "not-the-nonce")) == "nonce_mismatch")
            #expect(Self.code(try await confirm(jobID, deviceID: "pi-q", nonce: nonce, secret: other.secret)) == "device_mismatch")
            let confirmed = try await confirm(jobID, nonce: nonce)
            #expect(confirmed.status == 200)
            #expect(try confirmed.json()["status"] as? String == "executed")
            let repeated = try await confirm(jobID, nonce: nonce)
            #expect(repeated.status == 200)
            #expect(try repeated.json()["status"] as? String == "executed")
            let conflicting = try await confirm(jobID, nonce: nonce, result: "failed")
            #expect(conflicting.status == 409 && Self.code(conflicting) == "already_confirmed")

            // Too late: 410, and the job keeps that the door may have opened late.
            let late = try #require(try await stack.open("p", token: token).json()["jobId"] as? String)
            let lateNonce = try #require(try await poll().first?["nonce"] as? String)
            try await stack.waitForJob(late, token: token, status: "expired", timeout: .seconds(15))
            let tooLate = try await confirm(late, nonce: lateNonce)
            #expect(tooLate.status == 410 && Self.code(tooLate) == "confirm_timeout")
            let job = try await stack.job(late, token: token)
            #expect(job["status"] as? String == "expired" && job["lateConfirmAt"] is String)
        }
    }

    @Test("the broker keeps a device to its areas: another area's job topic is refused at SUBSCRIBE, its confirm topic at PUBLISH")
    func deviceBrokerRights() async throws {
        try await DoorStack.with { stack in
            let device = try await stack.addDevice("pi-acl", areas: ["mine"])
            var configuration = try MQTTConfiguration(url: device.mqttURL, clientID: "pi-acl-test")
            configuration.reconnectDelay = .milliseconds(100) ... .milliseconds(500)
            let client = try stack.broker.client(configuration)
            try await client.connect()
            let own = try await client.subscribe(Topic.doorJobs(area: "mine"), options: [.neverSendRetained])
            defer { own.cancel() }
            await #expect(throws: MQTTError.refused(operation: "subscribe to \(Topic.doorJobs(area: "theirs"))", reasonCode: 0x87)) {
                _ = try await client.subscribe(Topic.doorJobs(area: "theirs"))
            }
            await #expect(throws: MQTTError.refused(operation: "subscribe to leitstand/#", reasonCode: 0x87)) {
                _ = try await client.subscribe("leitstand/#")
            }
            try await client.publish(Topic.deviceStatus("pi-acl"), payload: Data(#"{"state":"offline","areas":[],"version":"t"}"#.utf8), retain: true)
            await #expect(throws: MQTTError.refused(operation: "publish", reasonCode: 0x87)) {
                try await client.publish(Topic.doorConfirm(area: "theirs"), payload: Data("{}".utf8))
            }
            await #expect(throws: MQTTError.refused(operation: "publish", reasonCode: 0x87)) {
                try await client.publish(Topic.doorJobs(area: "mine"), payload: Data("{}".utf8))
            }
            // Its own area's confirm topic is allowed (the scheduler refuses the empty confirm, not the broker).
            try await client.publish(Topic.doorConfirm(area: "mine"), payload: Data("{}".utf8))
        }
    }
}

extension Date {
    /// Whole seconds, as the contract's timestamps are.
    func rounded() -> Date { Date(timeIntervalSince1970: timeIntervalSince1970.rounded(.down)) }
}
