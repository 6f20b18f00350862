import NIOCore

/// The messages of one subscription, in arrival order. Ending the iteration, or ``cancel()``, unsubscribes.
///
/// The buffer between the client's network thread and the consumer is bounded (``MQTTConfiguration/subscriptionBufferLimit``):
/// when it holds its limit, the client stops reading from the broker until the consumer has taken half of it. One
/// subscription that nobody consumes therefore holds up every other one of its client: iterate it, or cancel it.
/// A subscription may be iterated once.
public struct MQTTSubscription: AsyncSequence, Sendable {
    public typealias Element = MQTTMessage

    public let filter: String
    private let sequence: SubscriptionBuffer.Sequence
    private let buffer: SubscriptionBuffer
    private let onCancel: @Sendable () -> Void

    init(filter: String, sequence: SubscriptionBuffer.Sequence, buffer: SubscriptionBuffer, onCancel: @escaping @Sendable () -> Void) {
        self.filter = filter
        self.sequence = sequence
        self.buffer = buffer
        self.onCancel = onCancel
    }

    /// Unsubscribes and ends the sequence once the consumer has taken what is buffered.
    public func cancel() { onCancel() }

    /// Messages received and not yet taken by the consumer.
    public var bufferedCount: Int { buffer.depth }

    /// The largest ``bufferedCount`` so far.
    package var peakBufferedCount: Int { buffer.peak }

    /// Messages dropped because the buffer held twice its limit (only while the client kept reading for a waiter).
    package var shedCount: Int { buffer.shedCount }

    public func makeAsyncIterator() -> Iterator { Iterator(base: sequence.makeAsyncIterator()) }

    public struct Iterator: AsyncIteratorProtocol {
        var base: SubscriptionBuffer.Sequence.AsyncIterator

        public mutating func next() async -> MQTTMessage? { await base.next() }
    }
}
