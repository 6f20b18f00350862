/// The client's subscriptions by topic filter, one tree level per topic level, so that an incoming message is matched
/// in a few dictionary lookups per level of its topic. Checking every message against every filter under the state
/// lock took a client from 12 800 messages/s with one subscription to 162 with 10 000 (issue 10, item 11).
///
/// `+` and `#` are children like any other level (a published topic never contains them). A shared subscription
/// (`$share/<group>/<filter>`) is filed under the filter behind the group. As in MQTT (and
/// `mosquitto_topic_matches_sub`), a topic starting with `$` is not matched by a wildcard in the first level.
package struct TopicTree {
    private struct Node {
        var children: [Substring: Node] = [:]
        var tokens: [UInt64] = []
        var isEmpty: Bool { children.isEmpty && tokens.isEmpty }
    }

    private var root = Node()

    package init() {}

    /// The filter that topics are matched against: a shared subscription's `$share/<group>/` taken off. Nil for
    /// `$share/<group>` without a filter, which matches nothing.
    package static func matchedFilter(_ filter: String) -> Substring? {
        guard filter.hasPrefix("$share/") else { return Substring(filter) }
        let levels = filter.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        return levels.count == 3 ? levels[2] : nil
    }

    private static func levels(_ filter: String) -> ArraySlice<Substring>? {
        matchedFilter(filter).map { ArraySlice($0.split(separator: "/", omittingEmptySubsequences: false)) }
    }

    package mutating func insert(_ token: UInt64, filter: String) {
        guard let levels = Self.levels(filter) else { return }
        Self.insert(token, levels: levels, into: &root)
    }

    package mutating func remove(_ token: UInt64, filter: String) {
        guard let levels = Self.levels(filter) else { return }
        Self.remove(token, levels: levels, from: &root)
    }

    /// Calls `body` with the token of every subscription whose filter matches `topic`.
    package func forEachMatch(of topic: String, _ body: (UInt64) -> Void) {
        let levels = ArraySlice(topic.split(separator: "/", omittingEmptySubsequences: false))
        Self.match(levels, in: root, wildcardsAllowed: !topic.hasPrefix("$"), body)
    }

    private static func insert(_ token: UInt64, levels: ArraySlice<Substring>, into node: inout Node) {
        guard let level = levels.first else {
            node.tokens.append(token)
            return
        }
        insert(token, levels: levels.dropFirst(), into: &node.children[level, default: Node()])
    }

    private static func remove(_ token: UInt64, levels: ArraySlice<Substring>, from node: inout Node) {
        guard let level = levels.first else {
            node.tokens.removeAll { $0 == token }
            return
        }
        guard node.children[level] != nil else { return }
        remove(token, levels: levels.dropFirst(), from: &node.children[level]!)
        if node.children[level]!.isEmpty { node.children[level] = nil }
    }

    /// `wildcardsAllowed` is false only for the first level of a `$` topic.
    private static func match(_ levels: ArraySlice<Substring>, in node: Node, wildcardsAllowed: Bool, _ body: (UInt64) -> Void) {
        // `#` matches what is left, including nothing: `a/#` matches `a` too.
        if wildcardsAllowed, let rest = node.children["#"] {
            for token in rest.tokens { body(token) }
        }
        guard let level = levels.first else {
            for token in node.tokens { body(token) }
            return
        }
        if let child = node.children[level] {
            match(levels.dropFirst(), in: child, wildcardsAllowed: true, body)
        }
        if wildcardsAllowed, let child = node.children["+"] {
            match(levels.dropFirst(), in: child, wildcardsAllowed: true, body)
        }
    }
}
