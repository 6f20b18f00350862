import Foundation
import Logging
import ServiceKit
import Testing

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    private func parse(_ line: [UInt8]) throws -> [String: Any] {
        #expect(line.last == UInt8(ascii: "\n") && line.dropLast().firstIndex(of: UInt8(ascii: "\n")) == nil, "one line")
        return try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
    }

    @Test("a record is one line of valid JSON, whatever its text contains")
    func escaping() throws {
        var handler = JSONLogHandler(label: "api-gateway")
        handler[metadataKey: "service"] = "api-gateway"
        let tricky = "quote \" backslash \\ newline \n tab \t bell \u{07} nul \u{00} umlaut ü emoji 🚪 slash /"
        let event = LogEvent(
            level: .warning,
            message: "\(tricky)",
            metadata: ["ingest.domain": "sensors", "list": ["a", "b\"c"], "nested": ["k": "v\n", "n": "\(42)"], tricky: "key too"],
            source: nil, file: "File.swift", function: "f()", line: 7
        )
        let record = try parse(handler.render(event))
        #expect(record["msg"] as? String == tricky)
        #expect(record["level"] as? String == "warning" && record["logger"] as? String == "api-gateway")
        #expect(record["service"] as? String == "api-gateway" && record["ingest.domain"] as? String == "sensors")
        #expect(record["list"] as? [String] == ["a", "b\"c"])
        #expect(record["nested"] as? [String: String] == ["k": "v\n", "n": "42"])
        #expect(record[tricky] as? String == "key too")
        #expect(record["source"] as? String == "File.swift:7")
        #expect((record["ts"] as? String)?.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil)
    }

    @Test("metadata cannot overwrite the record's own fields; below warning there is no source")
    func reservedFields() throws {
        let handler = JSONLogHandler(label: "writer")
        let event = LogEvent(level: .info, message: "hello", metadata: ["msg": "spoofed", "level": "critical"], source: nil, file: "F.swift", function: "f", line: 1)
        let record = try parse(handler.render(event))
        #expect(record["msg"] as? String == "hello" && record["level"] as? String == "info" && record["source"] == nil)
    }
}
