import MQTT
import Testing

/// The client's topic tree against libmosquitto's own `mosquitto_topic_matches_sub` (behind
/// `MQTTClient.topic(_:matches:)`), on generated filters and topics.
@Suite("Topic tree")
struct TopicTreeTests {
    /// Levels that exercise the corner cases: empty levels, `$` topics, prefixes of one another.
    static let levels = ["a", "b", "ab", "", "$SYS", "$x"]

    /// A topic a client could publish to (not empty).
    static func randomTopic(using generator: inout some RandomNumberGenerator) -> String {
        let count = Int.random(in: 1...4, using: &generator)
        let topic = (0..<count).map { _ in levels.randomElement(using: &generator)! }.joined(separator: "/")
        return topic.isEmpty ? "a" : topic
    }

    static func randomFilter(using generator: inout some RandomNumberGenerator) -> String {
        let count = Int.random(in: 1...4, using: &generator)
        var filterLevels = (0..<count).map { _ in
            Int.random(in: 0..<4, using: &generator) == 0 ? "+" : levels.randomElement(using: &generator)!
        }
        if Int.random(in: 0..<4, using: &generator) == 0 { filterLevels[filterLevels.count - 1] = "#" }
        let joined = filterLevels.joined(separator: "/")
        let filter = joined.isEmpty ? "+" : joined
        return Int.random(in: 0..<8, using: &generator) == 0 ? "$share/group/\(filter)" : filter
    }

    @Test("a tree of generated filters matches exactly what libmosquitto matches, also after removals")
    func matchesLikeLibmosquitto() {
        var generator = SeededGenerator(seed: 0x1E17_5)
        let filters = (0..<600).map { _ in Self.randomFilter(using: &generator) }
        let topics = Set((0..<600).map { _ in Self.randomTopic(using: &generator) }).sorted()
        var tree = TopicTree()
        for (index, filter) in filters.enumerated() { tree.insert(UInt64(index), filter: filter) }

        func check(present: Set<Int>) {
            for topic in topics {
                var matched: [UInt64] = []
                tree.forEachMatch(of: topic) { matched.append($0) }
                let expected = present.filter { MQTTClient.topic(topic, matches: filters[$0]) }.map(UInt64.init)
                #expect(matched.sorted() == expected.sorted(), "topic \(topic)")
            }
        }
        check(present: Set(filters.indices))
        var present = Set(filters.indices)
        for index in filters.indices where index.isMultiple(of: 3) || filters[index].hasSuffix("#") {
            tree.remove(UInt64(index), filter: filters[index])
            present.remove(index)
        }
        check(present: present)
    }

    @Test("the rules that matter, spelled out", arguments: [
        ("a/#", "a", true), ("a/#", "a/b/c", true), ("+/#", "a", true), ("a/+", "a/", true), ("a/+", "a", false),
        ("#", "$SYS/x", false), ("+/x", "$SYS/x", false), ("$SYS/#", "$SYS/x", true), ("a//b", "a//b", true),
        ("$share/g/a/+", "a/b", true), ("$share/g", "a", false), ("a", "a/b", false),
    ])
    func rules(filter: String, topic: String, matches: Bool) {
        var tree = TopicTree()
        tree.insert(1, filter: filter)
        var matched = false
        tree.forEachMatch(of: topic) { _ in matched = true }
        #expect(matched == matches)
        #expect(MQTTClient.topic(topic, matches: filter) == matches)
    }
}

/// A small deterministic generator (SplitMix64), so that a failure can be reproduced.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
