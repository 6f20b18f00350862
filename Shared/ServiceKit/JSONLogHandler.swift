import Foundation
import Logging
import Synchronization

/// Writes each log record as one JSON line to standard error:
/// `{"ts":"…","level":"info","logger":"api-gateway","msg":"…", <metadata>}`.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    /// UTC with milliseconds and the `Z`, e.g. `2026-11-23T12:43:47.974Z`.
    private static let timestamp = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// Serialises writes so that lines from concurrent tasks never interleave.
    private static let output = Mutex<Void>(())

    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let line = render(event)
        Self.output.withLock { _ in FileHandle.standardError.write(Data(line)) }
    }

    /// The line ``log(event:)`` writes: `ts`, `level`, `logger`, `msg`, the metadata by key, `source` from warnings on.
    public func render(_ event: LogEvent) -> [UInt8] {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        // Written by hand, in a fixed order: JSONSerialization with sorted keys cost a third of the gateway's CPU
        // under load (it compares keys as NSStrings with a locale).
        var line: [UInt8] = []
        line.reserveCapacity(256)
        line.append(UInt8(ascii: "{"))
        Self.member("ts", .string(Date().formatted(Self.timestamp)), first: true, to: &line)
        Self.member("level", .string(event.level.rawValue), to: &line)
        Self.member("logger", .string(label), to: &line)
        Self.member("msg", .string(event.message.description), to: &line)
        for key in merged.keys.sorted() where !Self.reservedKeys.contains(key) {
            Self.member(key, merged[key]!, to: &line)
        }
        if event.level >= .warning { Self.member("source", .string("\(event.file):\(event.line)"), to: &line) }
        line.append(contentsOf: "}\n".utf8)
        return line
    }

    private static let reservedKeys: Set<String> = ["ts", "level", "logger", "msg", "source"]

    private static func member(_ key: String, _ value: Logger.Metadata.Value, first: Bool = false, to line: inout [UInt8]) {
        if !first { line.append(UInt8(ascii: ",")) }
        string(key, to: &line)
        line.append(UInt8(ascii: ":"))
        self.value(value, to: &line)
    }

    private static func value(_ value: Logger.Metadata.Value, to line: inout [UInt8]) {
        switch value {
        case .string(let text):
            string(text, to: &line)
        case .stringConvertible(let convertible):
            string(convertible.description, to: &line)
        case .array(let array):
            line.append(UInt8(ascii: "["))
            for (index, element) in array.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                self.value(element, to: &line)
            }
            line.append(UInt8(ascii: "]"))
        case .dictionary(let dictionary):
            line.append(UInt8(ascii: "{"))
            for (index, key) in dictionary.keys.sorted().enumerated() {
                member(key, dictionary[key]!, first: index == 0, to: &line)
            }
            line.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string: `"` and `\` escaped, control characters as `\n`, `\t`, `\r` or `\u00XX`, the rest as UTF-8.
    static func string(_ text: String, to line: inout [UInt8]) {
        line.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                line.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            default: line.append(byte)
            }
        }
        line.append(UInt8(ascii: "\""))
    }
}
