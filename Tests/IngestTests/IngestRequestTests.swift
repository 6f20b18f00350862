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
}
