/// One JSON text (RFC 8259), checked and rewritten without insignificant whitespace. Nothing else changes:
/// numbers keep their spelling, strings their escapes, objects their key order. So an ingested event is stored
/// exactly as it was sent, and always on one line (a raw line break is only legal as whitespace).
///
/// Written by hand because the stored event must be the sender's text, not a re-encoding of a parsed value, and
/// because the gateway needs the boundaries of a batch's elements; `ContractsTests` checks it against
/// Foundation's parser.
public struct CompactJSON: Sendable {
    /// The text without insignificant whitespace.
    public let bytes: [UInt8]
    /// When the text is an array: where each element is in ``bytes``.
    public let arrayElements: [Range<Int>]?
    /// True when the text is an array whose elements are all objects (also when it is empty).
    public let isArrayOfObjects: Bool

    /// Deeper nesting than this is refused: it is never data anyone meant to send.
    public static let maximumDepth = 512

    public init(parsing input: some Collection<UInt8>) throws(JSONSyntaxError) {
        let scanned = try (input.withContiguousStorageIfAvailable(Self.scan) ?? Array(input).withUnsafeBufferPointer(Self.scan)).get()
        bytes = scanned.output
        arrayElements = scanned.elements
        isArrayOfObjects = scanned.elements != nil && scanned.allObjects
    }

    private static func scan(
        _ input: UnsafeBufferPointer<UInt8>
    ) -> Result<(output: [UInt8], elements: [Range<Int>]?, allObjects: Bool), JSONSyntaxError> {
        var scanner = Scanner(input: input)
        do {
            try scanner.scan()
        } catch {
            return .failure(error)
        }
        return .success((scanner.output, scanner.topLevelElements, scanner.topLevelElementsAreObjects))
    }
}

/// Why a text is not JSON, and where (a byte offset into the input).
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "\(reason) at byte \(offset)" }
}

private struct Scanner {
    private enum Container { case object, array }

    let input: UnsafeBufferPointer<UInt8>
    var output: [UInt8] = []
    var topLevelElements: [Range<Int>]?
    var topLevelElementsAreObjects = true
    private var position = 0
    private var stack: [Container] = []
    private var elementStart: Int?

    init(input: UnsafeBufferPointer<UInt8>) {
        self.input = input
        output.reserveCapacity(input.count)
    }

    mutating func scan() throws(JSONSyntaxError) {
        skipWhitespace()
        guard position < input.count else { throw failure("empty body, expected a JSON value") }
        if input[position] == UInt8(ascii: "[") { topLevelElements = [] }
        try scanValues()
        skipWhitespace()
        guard position == input.count else { throw failure("unexpected text after the JSON value") }
    }

    /// Scans one value, iteratively (a stack of open containers, no recursion).
    private mutating func scanValues() throws(JSONSyntaxError) {
        while true {
            // Expecting a value.
            skipWhitespace()
            guard position < input.count else { throw failure("unexpected end, expected a value") }
            if stack.count == 1 && stack[0] == .array {
                elementStart = output.count
                if input[position] != UInt8(ascii: "{") { topLevelElementsAreObjects = false }
            }
            var valueDone = true
            switch input[position] {
            case UInt8(ascii: "{"):
                try open(.object)
                skipWhitespace()
                if position < input.count && input[position] == UInt8(ascii: "}") {
                    close()
                } else {
                    try scanKey()
                    valueDone = false
                }
            case UInt8(ascii: "["):
                try open(.array)
                skipWhitespace()
                if position < input.count && input[position] == UInt8(ascii: "]") {
                    close()
                } else {
                    valueDone = false
                }
            case UInt8(ascii: "\""):
                try scanString()
            case UInt8(ascii: "t"):
                try scanLiteral("true")
            case UInt8(ascii: "f"):
                try scanLiteral("false")
            case UInt8(ascii: "n"):
                try scanLiteral("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                try scanNumber()
            default:
                throw failure("unexpected character, expected a value")
            }
            guard valueDone else { continue }
            // After a value: close containers or move to the next member.
            while true {
                if stack.count == 1 && stack[0] == .array, let start = elementStart {
                    topLevelElements?.append(start..<output.count)
                    elementStart = nil
                }
                guard let container = stack.last else { return }
                skipWhitespace()
                guard position < input.count else { throw failure("unexpected end inside \(container == .object ? "an object" : "an array")") }
                let byte = input[position]
                if byte == UInt8(ascii: ",") {
                    emit(byte)
                    if container == .object { try scanKey() }
                    break
                }
                if (container == .object && byte == UInt8(ascii: "}")) || (container == .array && byte == UInt8(ascii: "]")) {
                    close()
                    continue
                }
                throw failure(container == .object ? "expected ',' or '}'" : "expected ',' or ']'")
            }
        }
    }

    private mutating func open(_ container: Container) throws(JSONSyntaxError) {
        guard stack.count < CompactJSON.maximumDepth else { throw failure("nested deeper than \(CompactJSON.maximumDepth) levels") }
        stack.append(container)
        emit(input[position])
    }

    private mutating func close() {
        stack.removeLast()
        emit(input[position])
    }

    /// `"key"` then `:`; leaves the position at the member's value.
    private mutating func scanKey() throws(JSONSyntaxError) {
        skipWhitespace()
        guard position < input.count, input[position] == UInt8(ascii: "\"") else { throw failure("expected a string key") }
        try scanString()
        skipWhitespace()
        guard position < input.count, input[position] == UInt8(ascii: ":") else { throw failure("expected ':'") }
        emit(input[position])
    }

    private mutating func scanString() throws(JSONSyntaxError) {
        let start = position
        position += 1
        while position < input.count {
            let byte = input[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                output.append(contentsOf: input[start..<position])
                return
            case UInt8(ascii: "\\"):
                position += 1
                guard position < input.count else { break }
                switch input[position] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    position += 1
                case UInt8(ascii: "u"):
                    guard position + 4 < input.count, (1...4).allSatisfy({ Self.isHexDigit(input[position + $0]) }) else {
                        throw failure("invalid \\u escape")
                    }
                    position += 5
                default:
                    throw failure("invalid escape in a string")
                }
            case 0x00..<0x20:
                throw failure("unescaped control character in a string")
            case 0x80...:
                position += try utf8SequenceLength()
            default:
                position += 1
            }
        }
        throw failure("unterminated string")
    }

    /// The length of the valid UTF-8 sequence at the position (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF).
    private func utf8SequenceLength() throws(JSONSyntaxError) -> Int {
        let lead = input[position]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xE1...0xEF: length = 3
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        case 0xF1...0xF3: length = 4
        default: throw failure("invalid UTF-8")
        }
        guard position + length <= input.count, secondRange.contains(input[position + 1]),
            (2..<length).allSatisfy({ (0x80...0xBF).contains(input[position + $0]) })
        else { throw failure("invalid UTF-8") }
        return length
    }

    private mutating func scanLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
        let count = literal.utf8CodeUnitCount
        guard position + count <= input.count else { throw failure("invalid literal") }
        for offset in 0..<count where input[position + offset] != literal.utf8Start[offset] {
            throw failure("invalid literal")
        }
        output.append(contentsOf: input[position..<position + count])
        position += count
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func scanNumber() throws(JSONSyntaxError) {
        let start = position
        if input[position] == UInt8(ascii: "-") { position += 1 }
        guard position < input.count, Self.isDigit(input[position]) else { throw failure("invalid number") }
        if input[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            skipDigits()
        }
        if position < input.count && input[position] == UInt8(ascii: ".") {
            position += 1
            guard position < input.count, Self.isDigit(input[position]) else { throw failure("invalid number: digits expected after '.'") }
            skipDigits()
        }
        if position < input.count && (input[position] == UInt8(ascii: "e") || input[position] == UInt8(ascii: "E")) {
            position += 1
            if position < input.count && (input[position] == UInt8(ascii: "+") || input[position] == UInt8(ascii: "-")) { position += 1 }
            guard position < input.count, Self.isDigit(input[position]) else { throw failure("invalid number: digits expected in the exponent") }
            skipDigits()
        }
        output.append(contentsOf: input[start..<position])
    }

    private mutating func skipDigits() {
        while position < input.count && Self.isDigit(input[position]) { position += 1 }
    }

    private mutating func skipWhitespace() {
        while position < input.count {
            switch input[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func emit(_ byte: UInt8) {
        output.append(byte)
        position += 1
    }

    private func failure(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(offset: position, reason: reason) }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }
}
