extension AsyncSequence where Element: Sendable, Failure == Never {
    /// Runs `body` for each element, at most `maximum` at once, and returns when the sequence has ended and every
    /// `body` has finished. One task per element without a bound let a flood of messages grow a service's memory
    /// without limit; with it, the sequence is read no faster than the elements are handled, and a bounded MQTT
    /// subscription then leaves the rest with the broker.
    public func forEach(atMost maximum: Int, _ body: @escaping @Sendable (Element) async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for await element in self {
                if running >= maximum {
                    await group.next()
                    running -= 1
                }
                group.addTask { await body(element) }
                running += 1
            }
        }
    }
}
