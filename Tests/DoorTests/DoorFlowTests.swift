import Foundation
import PostgresNIO
import TestSupport
import Testing

/// A member at the door: log in, open, watch the job, and every refusal the contract names.
@Suite("Door access: member → gateway → scheduler → MQTT → relay → confirm (real processes)")
struct DoorFlowTests {
    static func code(_ response: HTTPProbe) -> String? { (try? response.json())?["error"] as? String }

    @Test("open → 202 → the relay pulses once → the job is executed, through every real service")
    func openPulseExecuted() async throws {
        try await DoorStack.with { stack in
            try await stack.addMember("anna", areas: ["haus-a"])
            try await stack.addDevice("pi-haus-a", areas: ["haus-a"])
            try await stack.startDevice("pi-haus-a")
            let token = try await stack.token("anna")

            let opened = try await stack.open("haus-a", token: token)
            #expect(opened.status == 202, "\(opened.text)")
            let body = try opened.json()
            let jobID = try #require(body["jobId"] as? String)
            #expect(body["status"] as? String == "pending")
            #expect(body["area"] as? String == "haus-a")
            #expect((body["expiresInMs"] as? Int ?? 0) > 28_000)

            let job = try await stack.waitForJob(jobID, token: token, status: "executed")
            #expect(job["resultCode"] as? String == "OK")
            #expect(job["executedAt"] is String && job["dispatchedAt"] is String && job["expiresAt"] is String)
            #expect(try stack.pulsedJobs("pi-haus-a") == [jobID])

            // Every step is in the audit log, and the operator sees the job.
            let jobs = try await stack.cli(["jobs", "--area", "haus-a"])
            #expect(jobs.contains(jobID) && jobs.contains("executed") && jobs.contains("member=anna"), "\(jobs)")
            let audit = try await stack.database.client.query("SELECT type FROM audit_log WHERE subject = \("door-job:\(jobID)") ORDER BY id")
            var types: [String] = []
            for try await type in audit.decode(String.self) { types.append(type) }
            #expect(types == ["door.job_created", "door.job_dispatched", "door.job_executed"])

            // Secrets never reach a log, not even at debug level.
            let secrets = [try #require(stack.devices["pi-haus-a"]?.secret), DoorStack.secretKey, ServiceProcess.jwtSecret, DoorStack.memberPassword, token]
            let outputs = [stack.gateway.process.output, try #require(stack.scheduler).process.output, try #require(stack.devices["pi-haus-a"]?.process).process.output]
            for output in outputs {
                #expect(output.contains("\"level\":\"debug\""))
                for secret in secrets { #expect(!output.contains(secret), "a secret in a log") }
            }
        }
    }

    @Test("401 without or with a bad session; the cookie works like the bearer token; wrong passwords are 401, then 429")
    func authentication() async throws {
        try await DoorStack.with { stack in
            try await stack.addMember("bert", areas: ["haus-b"])
            let anonymous = try await stack.request("POST", "/api/door/open/haus-b")
            #expect(anonymous.status == 401 && Self.code(anonymous) == "unauthorized", "\(anonymous.status) \(anonymous.text)")
            let forged = try await stack.open("haus-b", token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiZXJ0In0.c2lnbmF0dXJl")
            #expect(forged.status == 401 && Self.code(forged) == "unauthorized")

            let login = try await stack.login("bert")
            #expect(login.status == 200)
            let token = try #require(try login.json()["token"] as? String)
            #expect((try login.json()["expiresIn"] as? Int ?? 0) > 0)
            let cookie = try #require(login.headers["set-cookie"])
            #expect(cookie.contains("leitstand_session=\(token)") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
            // No device is online: the scheduler answers, so the cookie got the member through.
            let viaCookie = try await stack.request("POST", "/api/door/open/haus-b", headers: ["Cookie": "leitstand_session=\(token)"])
            #expect(viaCookie.status == 503 && Self.code(viaCookie) == "door_offline")

            let unknown = try await stack.login("nobody", password: "whatever-123")
            #expect(unknown.status == 401 && Self.code(unknown) == "invalid_credentials")
            // Five failures are answered 401; from then on the username is locked for the lockout (300 s).
            for _ in 0..<5 { #expect(try await stack.login("bert", password: "wrong-password").status == 401) }
            let locked = try await stack.login("bert", password: "wrong-password")
            #expect(locked.status == 429 && Self.code(locked) == "too_many_attempts", "\(locked.text)")
            #expect(Int(locked.headers["retry-after"] ?? "") ?? 0 > 250)
            // Locked means locked: not even the right password gets through now.
            #expect(try await stack.login("bert").status == 429)
        }
    }

    @Test("403 area_forbidden, 404 unknown_area, 503 door_offline at once, and an admin may open any area")
    func refusals() async throws {
        try await DoorStack.with { stack in
            try await stack.addMember("carl", areas: ["haus-c"])
            try await stack.addMember("root", areas: ["keller"], admin: true)
            try await stack.addDevice("pi-haus-c", areas: ["haus-c"])
            try await stack.addDevice("pi-keller", areas: ["keller", "garage"])
            try await stack.startDevice("pi-keller")
            let carl = try await stack.token("carl")

            let forbidden = try await stack.open("keller", token: carl)
            #expect(forbidden.status == 403 && Self.code(forbidden) == "area_forbidden")
            let unknown = try await stack.open("dachboden", token: carl)
            #expect(unknown.status == 404 && Self.code(unknown) == "unknown_area")
            let started = ContinuousClock.now
            let offline = try await stack.open("haus-c", token: carl)
            #expect(offline.status == 503 && Self.code(offline) == "door_offline")
            #expect(ContinuousClock.now - started < .seconds(5))
            // Nothing was queued for later: the area has no job.
            let queued = try await stack.database.client.query("SELECT count(*)::int FROM door_jobs WHERE area = 'haus-c'")
            for try await count in queued.decode(Int.self) { #expect(count == 0) }
            #expect(!(try await stack.cli(["jobs", "--area", "haus-c"]).contains("member=carl")))

            let root = try await stack.token("root")
            let opened = try await stack.open("garage", token: root)
            #expect(opened.status == 202, "\(opened.text)")
            try await stack.waitForJob(try #require(try opened.json()["jobId"] as? String), token: root, status: "executed")
            // Another member's job is not carl's to read; the admin reads it.
            let jobID = try #require(try opened.json()["jobId"] as? String)
            #expect(try await stack.request("GET", "/api/door/jobs/\(jobID)", token: carl).status == 404)
        }
    }

    @Test("429 door_in_use (the area's active job, and the member+area lock) and rate_limited, each with the exact retryAfterSeconds")
    func limits() async throws {
        try await DoorStack.with(scheduler: ["LEITSTAND_DOOR_MEMBER_AREA_LOCK_S": "20", "LEITSTAND_DOOR_RATE_LIMIT": "3", "LEITSTAND_DOOR_RATE_WINDOW_S": "40"]) { stack in
            try await stack.addMember("dora", areas: ["a1", "a2", "a3", "a4"])
            try await stack.addMember("emil", areas: ["a1"])
            try await stack.addDevice("pi-a", areas: ["a1", "a2", "a3", "a4"])
            try await stack.startDevice("pi-a")
            let dora = try await stack.token("dora")
            let emil = try await stack.token("emil")

            // The device does not answer: the job stays active, and the area is in use for what is left of it.
            let device = try #require(stack.devices["pi-a"]?.process)
            device.process.signal(SIGSTOP)
            let first = try await stack.open("a1", token: dora)
            #expect(first.status == 202)
            let inUse = try await stack.open("a1", token: emil)
            #expect(inUse.status == 429 && Self.code(inUse) == "door_in_use")
            let activeLeft = try #require(try inUse.json()["retryAfterSeconds"] as? Int)
            // The window (30 s) is rounded up to a whole second, never down: up to 31 s are left at first.
            #expect((25...31).contains(activeLeft), "\(activeLeft)")
            #expect(inUse.headers["retry-after"] == String(activeLeft))
            device.process.signal(SIGCONT)
            try await stack.waitForJob(try #require(try first.json()["jobId"] as? String), token: dora, status: "executed")

            // Done, but the same member and area stay locked for the lock's 20 s.
            let locked = try await stack.open("a1", token: dora)
            #expect(locked.status == 429 && Self.code(locked) == "door_in_use")
            let lockLeft = try #require(try locked.json()["retryAfterSeconds"] as? Int)
            #expect((14...20).contains(lockLeft), "\(lockLeft)")

            // Three opens in the window; the fourth is rate limited until the first leaves the 40 s window.
            for area in ["a2", "a3"] {
                let opened = try await stack.open(area, token: dora)
                #expect(opened.status == 202)
                try await stack.waitForJob(try #require(try opened.json()["jobId"] as? String), token: dora, status: "executed")
            }
            let limited = try await stack.open("a4", token: dora)
            #expect(limited.status == 429 && Self.code(limited) == "rate_limited", "\(limited.text)")
            let rateLeft = try #require(try limited.json()["retryAfterSeconds"] as? Int)
            #expect((25...40).contains(rateLeft), "\(rateLeft)")
            #expect(limited.headers["retry-after"] == String(rateLeft))
        }
    }

    @Test("the same Idempotency-Key returns the same job; the key for another area is 409")
    func idempotency() async throws {
        try await DoorStack.with { stack in
            try await stack.addMember("fritz", areas: ["f1", "f2"])
            try await stack.addDevice("pi-f", areas: ["f1", "f2"])
            try await stack.startDevice("pi-f")
            let token = try await stack.token("fritz")
            let first = try await stack.open("f1", token: token, key: "tap-1")
            #expect(first.status == 202)
            let again = try await stack.open("f1", token: token, key: "tap-1")
            #expect(again.status == 202)
            let jobID = try #require(try first.json()["jobId"] as? String)
            #expect(try again.json()["jobId"] as? String == jobID)
            let conflict = try await stack.open("f2", token: token, key: "tap-1")
            #expect(conflict.status == 409 && Self.code(conflict) == "idempotency_conflict")
            try await stack.waitForJob(jobID, token: token, status: "executed")
            #expect(try stack.pulsedJobs("pi-f") == [jobID])
        }
    }

    @Test("no confirm within the window: expired on time by the timer, TIMEOUT / Confirm timeout, never pulsed late")
    func expiry() async throws {
        try await DoorStack.with(scheduler: ["LEITSTAND_CONFIRM_WINDOW_S": "2"]) { stack in
            try await stack.addMember("greta", areas: ["g"])
            try await stack.addDevice("pi-g", areas: ["g"])
            try await stack.startDevice("pi-g")
            let token = try await stack.token("greta")
            let device = try #require(stack.devices["pi-g"]?.process)
            device.process.signal(SIGSTOP)
            let opened = try await stack.open("g", token: token)
            let jobID = try #require(try opened.json()["jobId"] as? String)
            // Nobody reads the job (reading does not expire it): the timer alone must, soon after its window.
            try await waitUntil("the timer expires the job", timeout: .seconds(8)) {
                let rows = try? await stack.database.client.query("SELECT status, result_code, result_message FROM door_jobs WHERE id = \(UUID(uuidString: jobID)!)")
                guard let rows else { return false }
                var expired = false
                for try await (status, code, message) in rows.decode((String, String?, String?).self) {
                    expired = status == "expired" && code == "TIMEOUT" && message == "Confirm timeout"
                }
                return expired
            }
            device.process.signal(SIGCONT)
            try await Task.sleep(for: .seconds(1))
            #expect(try stack.pulsedJobs("pi-g").isEmpty, "a job past expiresAt was pulsed")
            let job = try await stack.job(jobID, token: token)
            #expect(job["status"] as? String == "expired" && job["resultCode"] as? String == "TIMEOUT")
        }
    }

    @Test("bad input is a 400 with its code; a scheduler that is not running is a 503 at once, and opens work again when it is back")
    func badInputAndSchedulerDown() async throws {
        try await DoorStack.with { stack in
            try await stack.addMember("lena", areas: ["l"])
            try await stack.addDevice("pi-l", areas: ["l"])
            try await stack.startDevice("pi-l")
            let token = try await stack.token("lena")
            for body in ["{not json", #"{"username":"lena"}"#, #"{"username":"","password":"x"}"#] {
                let response = try await stack.request("POST", "/api/auth/login", body: Data(body.utf8))
                #expect(response.status == 400 && Self.code(response) == "invalid_request", "\(body): \(response.text)")
            }
            let longKey = try await stack.open("l", token: token, key: String(repeating: "k", count: 129))
            #expect(longKey.status == 400 && Self.code(longKey) == "invalid_request")
            let device = try #require(stack.devices["pi-l"])
            let badConfirm = try await stack.request("POST", "/api/device/confirm/x", body: Data(#"{"deviceId":"pi-l","result":"maybe"}"#.utf8), headers: ["X-Device-Secret": device.secret])
            #expect(badConfirm.status == 400 && Self.code(badConfirm) == "invalid_request")
            let unknownJob = try await stack.request(
                "POST", "/api/device/confirm/00000000-0000-0000-0000-000000000001",
                body: Data(#"{"deviceId":"pi-l","nonce":"n","result":"executed"}"#.utf8), headers: ["X-Device-Secret": device.secret]
            )
            #expect(unknownJob.status == 404 && Self.code(unknownJob) == "unknown_job")

            try await stack.stopScheduler()
            let started = ContinuousClock.now
            let down = try await stack.open("l", token: token)
            #expect(down.status == 503 && Self.code(down) == "scheduler_unavailable" && down.headers["retry-after"] == "2", "\(down.text)")
            #expect(ContinuousClock.now - started < .seconds(5))
            try await stack.startScheduler()
            try await waitUntil("the scheduler sees the device again", timeout: .seconds(15)) {
                (try? await stack.open("l", token: token))?.status == 202
            }
        }
    }

    @Test("the broker stopped: an open is a 503 scheduler_unavailable at once; doors open again when it is back")
    func brokerDown() async throws {
        try await DoorStack.with(scheduler: ["LEITSTAND_DOOR_MEMBER_AREA_LOCK_S": "0"]) { stack in
            try await stack.addMember("bea", areas: ["b"])
            try await stack.addDevice("pi-b", areas: ["b"])
            try await stack.startDevice("pi-b")
            let token = try await stack.token("bea")

            try await stack.broker.stop()
            let started = ContinuousClock.now
            let down = try await stack.open("b", token: token)
            #expect(down.status == 503 && Self.code(down) == "scheduler_unavailable" && down.headers["retry-after"] == "2", "\(down.text)")
            #expect(ContinuousClock.now - started < .seconds(5))

            try await stack.broker.start()
            var opened: HTTPProbe?
            try await waitUntil("gateway, scheduler and device are back on the broker", timeout: .seconds(20)) {
                opened = try? await stack.open("b", token: token)
                return opened?.status == 202
            }
            let jobID = try #require(try opened?.json()["jobId"] as? String)
            try await stack.waitForJob(jobID, token: token, status: "executed")
            #expect(try stack.pulsedJobs("pi-b").contains(jobID))
        }
    }

    @Test("housekeeping deletes old finished jobs and keeps their audit entries and active jobs")
    func housekeeping() async throws {
        try await DoorStack.with { stack in
            try await stack.addMember("hans", areas: ["h1", "h2"])
            try await stack.addDevice("pi-h", areas: ["h1", "h2"])
            try await stack.startDevice("pi-h")
            let token = try await stack.token("hans")
            let done = try #require(try await stack.open("h1", token: token).json()["jobId"] as? String)
            try await stack.waitForJob(done, token: token, status: "executed")
            let device = try #require(stack.devices["pi-h"]?.process)
            device.process.signal(SIGSTOP)
            defer { device.process.signal(SIGCONT) }
            let active = try #require(try await stack.open("h2", token: token).json()["jobId"] as? String)

            let output = try await stack.cli(["housekeeping", "--older-than", "0s"])
            #expect(output.contains("deleted 1 door jobs"), "\(output)")
            #expect(try await stack.request("GET", "/api/door/jobs/\(done)", token: token).status == 404)
            #expect(try await stack.request("GET", "/api/door/jobs/\(active)", token: token).status == 200)
            let audit = try await stack.database.client.query("SELECT count(*)::int FROM audit_log WHERE subject = \("door-job:\(done)")")
            for try await count in audit.decode(Int.self) { #expect(count == 3) }
            let summary = try await stack.database.client.query("SELECT count(*)::int FROM audit_log WHERE type = 'door.housekeeping'")
            for try await count in summary.decode(Int.self) { #expect(count >= 1) }
        }
    }
}
