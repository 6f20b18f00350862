/// Comparisons whose time does not depend on where two secrets first differ.
public enum ConstantTime {
    public static func equals(_ lhs: some StringProtocol, _ rhs: some StringProtocol) -> Bool {
        equals(Array(lhs.utf8), Array(rhs.utf8))
    }

    public static func equals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        // Walk the longer input fully so that the time reveals only the lengths, never the content.
        var difference = UInt8(truncatingIfNeeded: lhs.count ^ rhs.count) | (lhs.count == rhs.count ? 0 : 1)
        for index in 0..<max(lhs.count, rhs.count) {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }
}
