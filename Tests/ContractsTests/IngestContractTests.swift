import Contracts
import Foundation
import Testing

@Suite("Ingest wire contract")
struct IngestContractTests {
    private func compact(_ text: String) throws -> String {
        String(decoding: try CompactJSON(parsing: Array(text.utf8)).bytes, as: UTF8.self)
    }

    @Test("compact JSON drops whitespace and changes nothing else")
    func compactKeepsTheText() throws {
        let sent = "{ \"b\" : 1.50 ,\n  \"a\" : [ 1e3, -0, \"x \\u00e9\\n y\" ],\r\n\t\"é\": { }, \"n\": null, \"t\": true }"
        #expect(try compact(sent) == #"{"b":1.50,"a":[1e3,-0,"x \u00e9\n y"],"é":{},"n":null,"t":true}"#)
        #expect(try compact("  42 ") == "42")
        #expect(try compact("\"a  b\"") == "\"a  b\"")
    }

    @Test("the elements of a top-level array are found, and whether they are all objects")
    func arrayElements() throws {
        let batch = try CompactJSON(parsing: Array(#" [ {"a":[1,{"b":2}]} , {} ,{"c":"]"} ] "#.utf8))
        #expect(batch.isArrayOfObjects)
        #expect(batch.arrayElements?.map { String(decoding: batch.bytes[$0], as: UTF8.self) } == [#"{"a":[1,{"b":2}]}"#, "{}", #"{"c":"]"}"#])
        let mixed = try CompactJSON(parsing: Array(#"[{"a":1}, 2, [3]]"#.utf8))
        #expect(!mixed.isArrayOfObjects && mixed.arrayElements?.count == 3)
        let empty = try CompactJSON(parsing: Array("[ ]".utf8))
        #expect(empty.isArrayOfObjects && empty.arrayElements == [])
        let object = try CompactJSON(parsing: Array(#"{"a":[{}]}"#.utf8))
        #expect(!object.isArrayOfObjects && object.arrayElements == nil)
    }

    @Test("what is not JSON is refused", arguments: [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01", "1.", ".5", "1e", "+1", "-", "--1",
        "tru", "nul", "True", "\"abc", "\"a\u{01}b\"", "\"\\x\"", "\"\\u12g4\"", "[1 2]", "{} {}", "1 2", "'a'",
        "[\"a\"]]", "NaN", "Infinity", "{\"a\":}", "[,1]", "\u{FEFF}{}",
    ])
    func refusesInvalid(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try CompactJSON(parsing: Array(text.utf8)) }
    }

    @Test("invalid UTF-8 and too deep nesting are refused")
    func refusesBadBytesAndDepth() {
        for bytes: [UInt8] in [[0x22, 0xC3, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], [0xFF]] {
            #expect(throws: JSONSyntaxError.self) { try CompactJSON(parsing: bytes) }
        }
        let deep = String(repeating: "[", count: CompactJSON.maximumDepth + 1) + String(repeating: "]", count: CompactJSON.maximumDepth + 1)
        #expect(throws: JSONSyntaxError.self) { try CompactJSON(parsing: Array(deep.utf8)) }
        let deepEnough = String(repeating: "[", count: CompactJSON.maximumDepth) + String(repeating: "]", count: CompactJSON.maximumDepth)
        #expect(throws: Never.self) { try CompactJSON(parsing: Array(deepEnough.utf8)) }
    }

    /// Foundation's parser is the oracle: random mutations of valid documents must be accepted or refused alike,
    /// and what is accepted must compact to a text Foundation reads as the same value.
    @Test("agrees with Foundation's JSON parser on 20 000 mutated documents")
    func agreesWithFoundation() throws {
        let seeds = [
            #"{"temp": 21.5, "unit": "C", "tags": ["a", "b"], "ok": true, "none": null}"#,
            #"[{"id": 1, "v": -0.5e-3}, {"id": 2, "v": 1E+2, "s": "\u00fc\n\"q\""}]"#,
            #"{"nested": {"deeper": [[], {}, [1, [2, [3]]]]}, "text": "Grüße / \\ ✓"}"#,
        ]
        let alphabet = Array(#"{}[]:,"\ -+.eE0123456789truefalsn"#.utf8) + [0x20, 0x0A, 0x09, 0xC3, 0xBC]
        var generator = SystemRandomNumberGenerator()
        var disagreements: [String] = []
        for round in 0..<20_000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let position = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes.remove(at: position)
                case 1: bytes.insert(alphabet.randomElement(using: &generator)!, at: position)
                default: bytes[position] = alphabet.randomElement(using: &generator)!
                }
                if bytes.isEmpty { bytes = [0x20] }
            }
            let foundation = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
            let ours = try? CompactJSON(parsing: bytes)
            if (foundation == nil) != (ours == nil) {
                // Foundation on Linux accepts a trailing comma (`[1,]`, `{"a":1,}`), which RFC 8259 does not.
                let withoutWhitespace = bytes.filter { ![0x20, 0x0A, 0x09, 0x0D].contains($0) }
                let hasTrailingComma = zip(withoutWhitespace, withoutWhitespace.dropFirst()).contains {
                    $0 == UInt8(ascii: ",") && ($1 == UInt8(ascii: "]") || $1 == UInt8(ascii: "}"))
                }
                // And it refuses a number beyond Double's range (`1e999`), which RFC 8259 leaves to the reader: an
                // event is stored as text, so it is accepted here.
                let text = String(decoding: bytes, as: UTF8.self)
                let hasHugeExponent = text.contains(/[eE][+-]?0*[1-9]\d{2,}/)
                if !(ours == nil && hasTrailingComma) && !(foundation == nil && hasHugeExponent) { disagreements.append(text) }
                continue
            }
            if let foundation, let ours {
                let reread = try JSONSerialization.jsonObject(with: Data(ours.bytes), options: [.fragmentsAllowed])
                if !NSDictionary(dictionary: ["v": foundation]).isEqual(to: ["v": reread]) {
                    disagreements.append("value changed: \(String(decoding: bytes, as: UTF8.self))")
                }
                #expect(!ours.bytes.contains(UInt8(ascii: "\n")))
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
    }

    @Test("a batch survives the wire and the writer's checks")
    func batchRoundTrip() throws {
        let batch = IngestBatch(receivedAt: "2026-11-23T14:05:09.123Z", events: [
            .init(id: "k#0", json: Array(#"{"a":1}"#.utf8)),
            .init(id: "k#1", json: Array("[1,2]".utf8)),
        ])
        #expect(try IngestBatch.decodeAll(IngestBatch.encode([batch])) == [batch])
        // The size guard's estimate never undercounts.
        #expect(IngestBatch.encode([batch]).count <= batch.encodedSize)
        let empty = IngestBatch(receivedAt: "2026-11-23T14:05:09.123Z", events: [])
        #expect(try IngestBatch.decodeAll(IngestBatch.encode([empty])) == [empty])
        // Several requests coalesced into one message come apart again, each with its own time.
        let later = IngestBatch(receivedAt: "2026-11-23T14:05:09.456Z", events: [.init(id: "other", json: Array("{}".utf8))])
        #expect(try IngestBatch.decodeAll(IngestBatch.encode([batch, empty, later])) == [batch, empty, later])
    }

    @Test("a malformed batch is refused", arguments: [
        "",
        "not json",
        #"{"ids":["a"],"receivedAt":"2026-11-23T14:05:09.123Z"}"#,
        #"{"ids":["a"],"receivedAt":"2026-11-23T14:05:09.123Z"}"# + "\n{\"x\": 1}",
        #"{"ids":["a"],"receivedAt":"2026-11-23T14:05:09.123Z"}"# + "\n{\"x\":",
        #"{"ids":["a\"b"],"receivedAt":"2026-11-23T14:05:09.123Z"}"# + "\n{}",
        #"{"ids":["a"],"receivedAt":"../../etc/passwd"}"# + "\n{}",
        #"{"ids":["a"],"receivedAt":"2026-11-23T14:05:09Z"}"# + "\n{}",
    ])
    func malformedBatch(_ text: String) {
        #expect(throws: IngestBatchError.self) { try IngestBatch.decodeAll(Data(text.utf8)) }
    }

    @Test("a stored line is the contract's JSON and gives its id back")
    func recordLine() throws {
        var line: [UInt8] = []
        IngestRecord.append(id: "evt-1", receivedAt: "2026-11-23T14:05:09.123Z", domain: "sensors", json: Array(#"{"t":1.50}"#.utf8), to: &line)
        let text = String(decoding: line, as: UTF8.self)
        #expect(text == #"{"id":"evt-1","receivedAt":"2026-11-23T14:05:09.123Z","domain":"sensors","data":{"t":1.50}}"# + "\n")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        #expect(object["id"] as? String == "evt-1" && object["domain"] as? String == "sensors")
        #expect(IngestRecord.id(ofLine: line) == "evt-1")
        #expect(IngestRecord.id(ofLine: Array(#"{"other":1}"#.utf8)) == nil)
        #expect(IngestRecord.id(ofLine: Array(#"{"id":"unterminated"#.utf8)) == nil)
    }

    @Test("names: domains, ids and timestamps are held to their shapes")
    func names() {
        #expect(IngestDomain.isValid("sensors-2"))
        #expect(!IngestDomain.isValid("Sensors") && !IngestDomain.isValid("") && !IngestDomain.isValid("a/b") && !IngestDomain.isValid(".."))
        #expect(!IngestDomain.isValid(String(repeating: "a", count: 65)) && IngestDomain.isValid(String(repeating: "a", count: 64)))
        #expect(IngestEventID.isValid("0c6f-AB_x:1#2") && !IngestEventID.isValid("a b") && !IngestEventID.isValid("a\"") && !IngestEventID.isValid("ä"))
        #expect(IngestEventID.isValidKey(String(repeating: "k", count: 120)) && !IngestEventID.isValidKey(String(repeating: "k", count: 121)))
        let date = Date(timeIntervalSince1970: 1_795_437_818.25)
        #expect(IngestTimestamp.format(date) == "2026-11-23T12:43:38.250Z")
        #expect(IngestTimestamp.day(of: IngestTimestamp.format(date)) == "2026-11-23")
        #expect(IngestTimestamp.day(date) == "2026-11-23")
        #expect(IngestTimestamp.day(of: "2026-11-23T12:43:38Z") == nil && IngestTimestamp.day(of: "../11-23T12:43:38.250Z") == nil)
    }

    @Test("a timestamp names a real time: calendar dates with leap years, 00:00:00.000–23:59:59.999", arguments: [
        "2026-14-01T00:00:00.000Z", "2026-00-10T00:00:00.000Z", "2026-11-00T00:00:00.000Z", "2026-11-31T00:00:00.000Z",
        "2026-02-29T12:00:00.000Z", "2100-02-29T12:00:00.000Z", "2026-11-23T24:00:00.000Z", "2026-11-23T23:60:00.000Z",
        "2026-11-23T23:59:60.000Z", "0000-01-01T00:00:00.000Z", "9999-99-99T99:99:99.999Z",
    ])
    func impossibleTimestamps(_ timestamp: String) {
        #expect(IngestTimestamp.day(of: timestamp) == nil)
    }

    @Test("timestamps at the edges of the calendar are days")
    func edgeTimestamps() {
        for (timestamp, day) in [
            ("2024-02-29T23:59:59.999Z", "2024-02-29"), ("2000-02-29T00:00:00.000Z", "2000-02-29"), ("2026-12-31T23:59:59.999Z", "2026-12-31"),
            ("2026-04-30T00:00:00.000Z", "2026-04-30"), ("0001-01-01T00:00:00.000Z", "0001-01-01"), ("9999-12-31T23:59:59.999Z", "9999-12-31"),
        ] {
            #expect(IngestTimestamp.day(of: timestamp) == Substring(day), "\(timestamp)")
        }
        #expect(IngestTimestamp.daysIn(month: 2, year: 2024) == 29 && IngestTimestamp.daysIn(month: 2, year: 1900) == 28)
    }

    @Test("an Idempotency-Key never contains #, so no single event's id is another batch's element")
    func keysAndBatchElements() {
        #expect(IngestEventID.isValidKey("order-1") && !IngestEventID.isValidKey("order-1#0") && !IngestEventID.isValidKey("#"))
        #expect(IngestEventID.isValid(IngestEventID.batchElement("order-1", index: 0)))
        #expect(!IngestEventID.isValidKey(IngestEventID.batchElement("order-1", index: 0)))
    }

    @Test("the OpenAPI pattern of Idempotency-Key accepts exactly the characters the gateway accepts")
    func keyPatternDocumented() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs")
        let openAPI = try String(contentsOf: docs.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        let ingest = try #require(openAPI.range(of: "/ingest/{domain}:"))
        let key = try #require(openAPI.range(of: "name: Idempotency-Key", range: ingest.upperBound..<openAPI.endIndex))
        let pattern = try #require(openAPI[key.upperBound...].firstMatch(of: /pattern: '([^']*)'/)?.1)
        let regex = try NSRegularExpression(pattern: String(pattern))
        for byte in UInt8(0x20)...UInt8(0x7E) {
            let key = String(repeating: String(UnicodeScalar(byte)), count: 3)
            let documented = regex.firstMatch(in: key, range: NSRange(location: 0, length: 3)) != nil
            #expect(documented == IngestEventID.isValidKey(key), "\(key)")
        }
    }

    @Test("every error code of POST /ingest is documented in docs/api.md, docs/openapi.yaml and docs/ingest.md")
    func errorsDocumented() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs")
        let codes = [
            "unauthorized", "invalid_domain", "invalid_idempotency_key", "invalid_body", "invalid_json", "payload_too_large",
            "writer_unavailable", "writer_busy",
        ]
        for file in ["api.md", "openapi.yaml", "ingest.md"] {
            let text = try String(contentsOf: docs.appendingPathComponent(file), encoding: .utf8)
            for code in codes { #expect(text.contains(code), "\(code) is not in docs/\(file)") }
        }
    }
}

