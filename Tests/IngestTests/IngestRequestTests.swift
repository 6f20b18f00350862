import Contracts
import Foundation
import TestSupport
import Testing

/// Requests the api-gateway refuses before the writer sees them, through the real gateway process.
@Suite("Ingest requests the gateway refuses (api-gateway + ingest-writer processes, real Mosquitto)", .timeLimit(.minutes(3)))
struct IngestRequestTests {
    private static func errorCode(_ probe: HTTPProbe) -> String? { (try? probe.json())?["error"] as? String }

    @Test("a key with # is refused: a single event sent with the id of a batch's element is never answered 'stored' and dropped")
    func keyNamingABatchElement() async throws {
        try await IngestStack.with { stack in
            #expect(try await stack.post("orders", #"[{"line":1},{"line":2}]"#, key: "order-7").status == 200)
            for key in ["order-7#0", "order-7#1", "a#b"] {
                let refused = try await stack.post("orders", #"{"order":7}"#, key: key)
                #expect(refused.status == 400 && Self.errorCode(refused) == "invalid_idempotency_key", "\(key): \(refused.status) \(refused.text)")
            }
            #expect(try stack.ids("orders") == ["order-7#0", "order-7#1"])
        }
    }

    @Test("a malformed chunked body is 400 invalid_body; a chunked body over the limit is still 413")
    func malformedChunkedBody() async throws {
        try await IngestStack.with(gateway: ["LEITSTAND_INGEST_MAX_BYTES": "1024"]) { stack in
            let head = "POST /ingest/chunks HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(ServiceProcess.ingestToken)\r\n"
                + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            for body in ["zz\r\n{}\r\n0\r\n\r\n", "2\r\n{}\r\n-1\r\n\r\n", "4\r\n{}\r\n0\r\n\r\n"] {
                let refused = try await RawHTTPExchange.send(head + body, port: stack.gateway.port)
                #expect(refused.status == 400 && refused.text.contains(#""error":"invalid_body""#), "\(body.debugDescription): \(refused.text)")
            }
            let large = String(repeating: " ", count: 2_000) + "{}"
            let tooLarge = try await RawHTTPExchange.send(head + String(large.utf8.count, radix: 16) + "\r\n" + large + "\r\n0\r\n\r\n", port: stack.gateway.port)
            #expect(tooLarge.status == 413 && tooLarge.text.contains(#""error":"payload_too_large""#), "\(tooLarge.text)")
            let fine = try await RawHTTPExchange.send(head + "2\r\n{}\r\n0\r\n\r\n", port: stack.gateway.port)
            #expect(fine.status == 200, "\(fine.text)")
            #expect(try stack.ids("chunks").count == 1)
        }
    }
}

