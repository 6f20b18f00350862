/// One step of the schema, applied once and recorded in `schema_migrations`.
/// `statements` run in order inside the migration transaction (one SQL statement each, as the extended query
/// protocol wants).
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let statements: [String]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}
