import Contracts
import HTTPTypes
import Hummingbird

/// An ``ErrorBody`` thrown as an error, for where Hummingbird expects an error rather than a response: the
/// middleware around the router's not-found responder, which Hummingbird's metrics count as an error by its status.
struct ErrorResponse: HTTPResponseError {
    let status: HTTPResponse.Status
    let body: ErrorBody

    init(_ status: HTTPResponse.Status, _ body: ErrorBody) {
        self.status = status
        self.body = body
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        // To HEAD too: NIO's encoder leaves the body out of an answer to HEAD.
        body.response(status)
    }
}
