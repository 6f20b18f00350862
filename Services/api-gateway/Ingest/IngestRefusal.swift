import Contracts
import HTTPTypes
import Hummingbird
import ServiceKit

/// An ingest request answered with an error: the status, the stable code and, for 503, when to come back.
struct IngestRefusal: Error {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var retryAfterSeconds: Int?

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    static let writerUnavailable = IngestRefusal(
        .serviceUnavailable, "writer_unavailable", "the ingest-writer did not confirm the events as stored; nothing is acknowledged, send them again",
        retryAfterSeconds: 2
    )

    static let busy = IngestRefusal(
        .serviceUnavailable, "writer_busy", "too many events are waiting to be written; send them again shortly",
        retryAfterSeconds: 1
    )

    var response: Response {
        ErrorBody(code, message: message, retryAfterSeconds: retryAfterSeconds).response(status)
    }
}
