/// The messages of one subscription, in arrival order. Ending the iteration, or ``cancel()``, unsubscribes.
public struct MQTTSubscription: AsyncSequence, Sendable {
    public typealias Element = MQTTMessage

    public let filter: String
    private let stream: AsyncStream<MQTTMessage>
    private let continuation: AsyncStream<MQTTMessage>.Continuation

    init(filter: String, stream: AsyncStream<MQTTMessage>, continuation: AsyncStream<MQTTMessage>.Continuation) {
        self.filter = filter
        self.stream = stream
        self.continuation = continuation
    }

    /// Unsubscribes and ends the sequence.
    public func cancel() { continuation.finish() }

    public func makeAsyncIterator() -> Iterator { Iterator(base: stream.makeAsyncIterator()) }

    public struct Iterator: AsyncIteratorProtocol {
        var base: AsyncStream<MQTTMessage>.Iterator

        public mutating func next() async -> MQTTMessage? { await base.next() }

        public mutating func next(isolation actor: isolated (any Actor)?) async -> MQTTMessage? {
            await base.next(isolation: actor)
        }
    }
}
