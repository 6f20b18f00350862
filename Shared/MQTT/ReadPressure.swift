import Synchronization

/// The client-wide sum of its subscriptions' buffers, which the network thread checks before every read.
///
/// While any buffer is full (``SubscriptionBuffer``), the network thread stops reading the socket, except when a
/// task awaits something only reading can bring: a PUBACK, a reply, a SUBACK or a ping's UNSUBACK. Without that
/// exception a consumer that publishes while it handles a message (a responder's handler awaiting a PUBACK) would
/// wait forever for an acknowledgement nobody reads, while its own buffer waits for it. The reads made for such
/// waiters may fill a buffer up to its capacity, and shed beyond it.
///
/// While reading is paused, `mosquitto_loop_misc` is not called either: it would send a PINGREQ and then drop the
/// connection because the PINGRESP is never read (lib/util_mosq.c, `mosquitto__check_keepalive`). Instead the
/// thread sends an UNSUBSCRIBE of ``MQTTClient/pingFilter`` every half keep-alive, so that the broker still hears
/// from us; its UNSUBACK is read when reading resumes. A consumer that is stuck therefore keeps the connection, and
/// the broker keeps (and, past `max_queued_messages`, drops) what it cannot deliver.
final class ReadPressure: Sendable {
    /// Buffers holding their limit (and not yet down to half of it).
    let fullBuffers = Atomic<Int>(0)
    /// Messages in all buffers.
    let buffered = Atomic<Int>(0)

    var isFull: Bool { fullBuffers.load(ordering: .sequentiallyConsistent) > 0 }
}
