import Foundation
import TestSupport
import Testing

/// A request whose asker has given up never acts (issue 9): an ingest message the writer takes after the gateway
/// answered 503 is not written, so the client's retry (under a new id when it has no Idempotency-Key) is the only
/// copy.
@Suite("Ingest deadlines (api-gateway + ingest-writer processes, real Mosquitto)")
struct IngestDeadlineTests {
    @Test("a writer paused past the gateway's timeout: 503 to the client, and the message it takes afterwards is dropped unwritten (fails before: stored after the 503, so the retry made a second copy)")
    func pausedWriterDropsLateMessage() async throws {
        try await IngestStack.with { stack in
            let writer = try #require(stack.runningWriters.first)
            writer.process.signal(SIGSTOP)
            let refused = try await stack.post("late", #"{"v":1}"#)
            writer.process.signal(SIGCONT)
            #expect(refused.status == 503, "\(refused.status) \(refused.text)")
            try await waitUntil("the writer dropped the late message", timeout: .seconds(15)) {
                try await IngestStack.metric(#"leitstand_ingest_rejected_total{reason="late"}"#, of: writer) >= 1
            }
            #expect(try stack.ids("late").isEmpty)
            // The client's retry is the one copy.
            #expect(try await stack.post("late", #"{"v":1}"#).status == 200)
            #expect(try stack.lines("late").count == 1)
        }
    }
}
