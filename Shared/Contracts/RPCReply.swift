/// The reply to a `leitstand/rpc/{service}/{method}` request: an HTTP status the gateway passes on, and a body.
public struct RPCReply<Body: Codable & Sendable>: Codable, Sendable {
    public var status: Int
    public var body: Body

    public init(status: Int, body: Body) {
        self.status = status
        self.body = body
    }
}

/// The body of every error, over HTTP and in RPC replies: `{"error": "<stable code>", "message": "…"}`.
public struct ErrorBody: Codable, Sendable, Equatable, Error {
    public var error: String
    public var message: String?

    public init(_ error: String, message: String? = nil) {
        self.error = error
        self.message = message
    }
}
