import Contracts
import Foundation
import Testing

@Suite("Wire contract")
struct ContractsTests {
    @Test("topics are spelled as the contract says")
    func topics() {
        #expect(Topic.serviceStatus("api-gateway") == "leitstand/svc/api-gateway/status")
        #expect(Topic.restartCommand("door-scheduler") == "leitstand/svc/door-scheduler/cmd/restart")
        #expect(Topic.rpc("door-scheduler", "open") == "leitstand/rpc/door-scheduler/open")
        #expect(Topic.doorJobs(area: "lobby") == "leitstand/door/lobby/jobs")
        #expect(Topic.doorConfirm(area: "lobby") == "leitstand/door/lobby/confirm")
        #expect(Topic.deviceStatus("pi-7") == "leitstand/device/pi-7/status")
        #expect(Topic.ingest(domain: "sensors") == "leitstand/ingest/sensors")
        #expect(Topic.replies(clientID: "gw-1") == "leitstand/reply/gw-1")
    }

    @Test("a door job signs exactly the text its JSON carries, also after a round trip")
    func doorJobSignedText() throws {
        let expiresAt = Date(timeIntervalSince1970: 1_795_437_818)
        let job = DoorJob(jobId: "j-1", area: "lobby", deviceId: "pi-7", nonce: "n0nce", pulseMs: 800, expiresAt: expiresAt, sig: "ab")
        #expect(job.signedText == "j-1|lobby|pi-7|n0nce|800|2026-11-23T12:43:38Z")
        let json = try ContractCoding.encode(job)
        #expect(String(decoding: json, as: UTF8.self).contains("\"expiresAt\":\"2026-11-23T12:43:38Z\""))
        let decoded = try ContractCoding.decode(DoorJob.self, from: json)
        #expect(decoded == job && decoded.signedText == job.signedText)
    }

    @Test("every door error code is documented, in docs/api.md and in the OpenAPI description")
    func doorErrorsDocumented() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs")
        let api = try String(contentsOf: docs.appendingPathComponent("api.md"), encoding: .utf8)
        let openAPI = try String(contentsOf: docs.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        for code in DoorError.allCases {
            #expect(api.contains("`\(code.rawValue)`"), "\(code.rawValue) is not in docs/api.md")
            #expect(openAPI.contains(code.rawValue), "\(code.rawValue) is not in docs/openapi.yaml")
        }
    }

    @Test("a confirm signs jobId|deviceId|nonce|result")
    func confirmSignedText() throws {
        let confirm = DoorConfirm(jobId: "j-1", deviceId: "pi-7", nonce: "n0nce", result: .failed, code: "GPIO_ERROR", message: "line busy", pulsedAt: nil)
        #expect(confirm.signedText == "j-1|pi-7|n0nce|failed")
        #expect(try ContractCoding.decode(DoorConfirm.self, from: ContractCoding.encode(confirm)) == confirm)
    }

    @Test("a restart command names each bad field; a requester that is itself the problem is not usable for the log")
    func restartCommandProblems() {
        #expect(RestartCommand(delaySeconds: 301, reason: "r", requestedBy: "ops").validationError == "delaySeconds must be between 0 and 300")
        #expect(RestartCommand(reason: " ", requestedBy: "ops").validationError == "reason must not be empty")
        #expect(RestartCommand(reason: "r", requestedBy: "o\u{0}ps").validationError == "requestedBy must not contain control characters")
        #expect(RestartCommand(reason: String(repeating: "r", count: 201), requestedBy: "ops").validationError == "reason must be at most 200 characters")
        #expect(RestartCommand(reason: "a\u{85}b", requestedBy: "ops").validationError == "reason must not contain control characters")
        #expect(RestartCommand(reason: "\u{7}", requestedBy: "ops").hasUsableRequester)
        #expect(!RestartCommand(reason: "r", requestedBy: "o\u{1b}[2J").hasUsableRequester)
        #expect(RestartCommand(reason: "r", requestedBy: "ops").validationError == nil)
    }

    @Test("restart commands and statuses decode from what other tools would send")
    func decodesForeignJSON() throws {
        let command = try ContractCoding.decode(RestartCommand.self, from: Data(#"{"delaySeconds":10,"reason":"r","requestedBy":"ops"}"#.utf8))
        #expect(command == RestartCommand(delaySeconds: 10, reason: "r", requestedBy: "ops"))
        let status = try ContractCoding.decode(ServiceStatus.self, from: Data(#"{"state":"offline","service":"x","version":"1"}"#.utf8))
        #expect(status.state == .offline && status.at == nil)
        #expect(throws: (any Error).self) { try ContractCoding.decode(RestartCommand.self, from: Data(#"{"delaySeconds":"soon"}"#.utf8)) }
    }
}
