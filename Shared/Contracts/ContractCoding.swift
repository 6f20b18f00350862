import Foundation

/// The JSON conventions of the wire contract: ISO 8601 dates, sorted keys (stable for signatures and diffs).
public enum ContractCoding {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    public static func encode(_ value: some Encodable) throws -> Data { try encoder().encode(value) }

    /// A time as the contract writes it: ISO 8601, UTC, whole seconds (`2026-11-23T12:43:38Z`), the same text the
    /// `.iso8601` date coding produces, so that a signature over it survives a round trip through JSON.
    public static func timestamp(_ date: Date) -> String { date.formatted(.iso8601) }

    public static func decode<Value: Decodable>(_ type: Value.Type, from data: Data) throws -> Value {
        try decoder().decode(type, from: data)
    }
}
