import Foundation
import NIOSSL
import PostgresNIO

/// Errors in reaching or preparing the database.
public enum DatabaseError: Error, Equatable, CustomStringConvertible {
    case invalidURL(String)
    case migrationFailed(version: Int, name: String, reason: String)
    case noRowReturned(String)

    public var description: String {
        switch self {
        case .invalidURL(let why): "invalid database URL: \(why)"
        case .migrationFailed(let version, let name, let reason): "migration \(version) (\(name)) failed: \(reason)"
        case .noRowReturned(let statement): "\(statement) returned no row"
        }
    }
}

extension PostgresClient.Configuration {
    /// Parses `postgres://user:pass@host:5432/leitstand`. `?sslmode=require` asks for TLS; anything else is
    /// plain TCP (the database is on loopback or a private compose network).
    public init(url: String) throws(DatabaseError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw .invalidURL("expected postgres://user:pass@host:port/database")
        }
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw .invalidURL("scheme must be postgres, not \(scheme)")
        }
        guard let host = components.host, !host.isEmpty else { throw .invalidURL("no host") }
        guard let user = components.percentEncodedUser?.removingPercentEncoding, !user.isEmpty else {
            throw .invalidURL("no user name")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else { throw .invalidURL("no database name in the path") }
        if let port = components.port, !(1...65535).contains(port) { throw .invalidURL("port out of range") }
        let sslMode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case nil, "disable", "allow", "prefer": tls = .disable
        case "require", "verify-ca", "verify-full":
            tls = .require(.makeClientConfiguration())
        case let other?: throw .invalidURL("unknown sslmode \(other)")
        }
        self.init(
            host: host,
            port: components.port ?? 5432,
            username: user,
            password: components.percentEncodedPassword?.removingPercentEncoding,
            database: database,
            tls: tls
        )
    }
}
