import CMosquitto
import Foundation
import Synchronization

/// Wakes the network thread from `poll()`: an eventfd, signalled only when the thread is about to sleep or
/// sleeping, and drained with one read however often it was signalled. (libmosquitto's own socket pair is
/// drained one byte per `mosquitto_loop` iteration, which costs the network thread a `select` and a `read`
/// for every single publish under load.)
final class LoopWakeup: Sendable {
    let descriptor: Int32
    private let sleeping = Atomic<Bool>(false)

    init() throws(MQTTError) {
        descriptor = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard descriptor >= 0 else {
            throw .library(operation: "eventfd", code: MOSQ_ERR_ERRNO.rawValue, message: String(cString: strerror(errno)))
        }
    }

    deinit { close(descriptor) }

    /// Called by the network thread before it decides whether to wait; pairs with ``wakeIfSleeping()``:
    /// whoever queues work after this store sees `true` and signals.
    func prepareToSleep() { sleeping.store(true, ordering: .sequentiallyConsistent) }

    /// Called by the network thread after `poll()` returned: clears the flag and every pending signal.
    func awake() {
        sleeping.store(false, ordering: .sequentiallyConsistent)
        var counter: UInt64 = 0
        _ = read(descriptor, &counter, MemoryLayout<UInt64>.size)
    }

    /// Called after queueing a packet: signals only a thread that may be waiting.
    func wakeIfSleeping() {
        if sleeping.exchange(false, ordering: .sequentiallyConsistent) { signal() }
    }

    func signal() {
        var one: UInt64 = 1
        _ = write(descriptor, &one, MemoryLayout<UInt64>.size)
    }

    /// Sleeps up to `milliseconds` or until signalled (a reconnect backoff that shutdown can cut short).
    func wait(milliseconds: Int32) {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        _ = poll(&entry, 1, milliseconds)
        awake()
    }
}
