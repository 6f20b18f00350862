import NIOCore
import Synchronization

/// How full one subscription's buffer is: the messages the network thread has handed over and its consumer has not
/// taken yet.
///
/// libmosquitto acknowledges a QoS 1 message before handing it over, so the broker's queue limit never applied and a
/// subscriber that did not keep up grew from 23 to 259 MB on 200 000 messages of 1 KB (issue 10, item 7). Now a
/// subscription that holds ``limit`` messages makes the network thread stop reading the socket, until its consumer
/// is down to half of that: unread messages stay unacknowledged, so the broker keeps them, within its own limits
/// (`max_queued_messages`, its in-flight window to us). Messages that arrive while reading goes on regardless
/// (see ``ReadPressure``) are buffered up to ``capacity`` and shed beyond it.
///
/// The sequence (`NIOAsyncSequenceProducer`) calls ``BackPressure`` under its own lock on every yield and every
/// consumed message; the counts here are updated in that call, so they change in the order the buffer does.
final class SubscriptionBuffer: Sendable {
    /// The buffered count at which reading stops.
    let limit: Int
    /// Reading goes on when every full buffer is down to this.
    let resumeAt: Int
    /// Beyond this a message is shed: only reached while reading goes on regardless.
    let capacity: Int
    private let pressure: ReadPressure

    private struct Counts {
        var depth = 0
        var peak = 0
        var shed = 0
        var full = false
        var retired = false
    }

    private let counts = Mutex(Counts())

    init(limit: Int, pressure: ReadPressure) {
        self.limit = max(limit, 2)
        resumeAt = self.limit / 2
        capacity = 2 * self.limit
        self.pressure = pressure
    }

    /// Messages waiting for the consumer.
    var depth: Int { counts.withLock { $0.depth } }
    /// The most messages that ever waited at once.
    var peak: Int { counts.withLock { $0.peak } }
    /// Messages dropped because the buffer held ``capacity``.
    var shedCount: Int { counts.withLock { $0.shed } }

    /// Called on the network thread before a message is yielded: false when it must be shed instead (the count of
    /// shed messages so far is returned with it). Only the network thread yields, so the depth can only fall between
    /// this check and the yield.
    func admit() -> (admitted: Bool, shedSoFar: Int) {
        counts.withLock { counts in
            guard counts.depth >= capacity else { return (true, counts.shed) }
            counts.shed += 1
            return (false, counts.shed)
        }
    }

    /// The sequence's new depth, after a yield or a consumed message; returns whether to produce more.
    fileprivate func update(depth: Int) -> Bool {
        counts.withLock { counts in
            guard !counts.retired else { return true }
            pressure.buffered.add(depth - counts.depth, ordering: .relaxed)
            counts.depth = depth
            counts.peak = max(counts.peak, depth)
            if !counts.full && depth >= limit {
                counts.full = true
                pressure.fullBuffers.add(1, ordering: .sequentiallyConsistent)
            } else if counts.full && depth <= resumeAt {
                counts.full = false
                pressure.fullBuffers.subtract(1, ordering: .sequentiallyConsistent)
            }
            return !counts.full
        }
    }

    /// The subscription ended: it no longer holds reading back, whatever it still buffers.
    func retire() {
        counts.withLock { counts in
            guard !counts.retired else { return }
            counts.retired = true
            pressure.buffered.subtract(counts.depth, ordering: .relaxed)
            if counts.full { pressure.fullBuffers.subtract(1, ordering: .sequentiallyConsistent) }
        }
    }

    /// The strategy the sequence consults; it reports every depth to the buffer.
    struct BackPressure: NIOAsyncSequenceProducerBackPressureStrategy {
        let buffer: SubscriptionBuffer

        mutating func didYield(bufferDepth: Int) -> Bool { buffer.update(depth: bufferDepth) }
        mutating func didConsume(bufferDepth: Int) -> Bool { buffer.update(depth: bufferDepth) }
    }

    /// What the sequence tells its producer: the consumer drained a full buffer, or stopped consuming.
    struct Events: NIOAsyncSequenceProducerDelegate {
        let drained: @Sendable () -> Void
        let terminated: @Sendable () -> Void

        func produceMore() { drained() }
        func didTerminate() { terminated() }
    }

    typealias Sequence = NIOAsyncSequenceProducer<MQTTMessage, BackPressure, Events>
}
