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
    /// For 429 and some 503s: the exact time left, rounded up; the `Retry-After` header says the same.
    public var retryAfterSeconds: Int?

    public init(_ error: String, message: String? = nil, retryAfterSeconds: Int? = nil) {
        self.error = error
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }
}
