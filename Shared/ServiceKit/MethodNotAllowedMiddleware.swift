import Contracts
import HTTPTypes
import Hummingbird

/// 405 `method_not_allowed` with an `Allow` header for a path that exists under other methods, 404 `not_found` for
/// a path that does not exist, both as JSON. Hummingbird's router answers 404 to both (`TRACE /health` was 404),
/// with an empty body (docs/api.md promises `{"error","message"}` for every error).
///
/// Added to the router after every route, so it wraps only the router's not-found responder (which Hummingbird
/// builds with all middleware when it builds the responder): it runs only for requests no route took.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Never allowed, so no route may take them (checked when the server is built): TRACE and TRACK echo a request
    /// (cookies included) back to a script, and CONNECT would make the service a tunnel.
    static var neverAllowed: Set<HTTPRequest.Method> { [.trace, .connect, HTTPRequest.Method("TRACK")!] }

    /// Every routed path, each answering GET with 405 and its `Allow`: the router's own matching finds a request's
    /// path whatever its method (parameters and wildcards included).
    private let paths: RouterResponder<Context>

    init(routes: [Router<Context>.RouteDescription]) {
        let forbidden = routes.filter { Self.neverAllowed.contains($0.method) }
        precondition(forbidden.isEmpty, "TRACE, TRACK and CONNECT are never allowed, but routed: \(forbidden)")
        var methods: [String: (path: RouterPath, methods: Set<HTTPRequest.Method>)] = [:]
        for route in routes {
            methods[route.path.description, default: (route.path, [])].methods.insert(route.method)
        }
        let paths = Router(context: Context.self)
        for (path, allowed) in methods.values {
            // The router answers HEAD wherever it answers GET (`autoGenerateHeadEndpoints`).
            let allow = allowed.union(allowed.contains(.get) ? [.head] : []).map(\.rawValue).sorted().joined(separator: ", ")
            paths.get(path) { _, _ in Response(status: .methodNotAllowed, headers: [.allow: allow]) }
        }
        self.paths = paths.buildResponder()
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var head = request.head
        head.method = .get
        let probe = try await paths.respond(to: Request(head: head, body: RequestBody(buffer: ByteBuffer())), context: context)
        guard probe.status == .methodNotAllowed, let allow = probe.headers[.allow] else { return try await notFound(request, context, next) }
        var response = ErrorBody("method_not_allowed", message: "\(request.method.rawValue) is not allowed here; allowed: \(allow)")
            .response(.methodNotAllowed)
        response.headers[.allow] = allow
        return response
    }

    /// The router's not-found responder throws an empty `HTTPError(.notFound)`; it goes on as an error (so that the
    /// metrics count it as before), with the JSON body. The path is not echoed: it is whatever a client sent.
    private func notFound(_ request: Request, _ context: Context, _ next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError where error.status == .notFound {
            throw ErrorResponse(.notFound, ErrorBody("not_found", message: "no such path"))
        }
    }
}
