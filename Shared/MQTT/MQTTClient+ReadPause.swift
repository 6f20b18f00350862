import CMosquitto
import Foundation
import Logging
import Metrics
import Synchronization

/// The network thread's own record of a pause in reading (why it pauses: ``ReadPressure``).
struct ReadPause {
    /// Since when reading is paused; nil while reading.
    var since: ContinuousClock.Instant?
    /// When the broker last heard from us during the pause.
    var lastKeepAlive = ContinuousClock.now
    /// What the buffered-messages gauge was last given.
    var reportedBuffered = 0
}

extension MQTTClient {
    /// Whether this round of the loop reads the socket: not while a subscription's buffer is full (once the broker
    /// has accepted us), unless a task awaits something only reading brings.
    func shouldRead(_ pause: inout ReadPause, now: ContinuousClock.Instant) -> Bool {
        guard readPressure.isFull, state.withLock({ $0.isConnected }), !hasNetworkWaiters() else {
            if let since = pause.since {
                pause.since = nil
                logger.debug("MQTT reading resumed", metadata: ["mqtt.pausedFor": "\(now - since)"])
            }
            return true
        }
        if pause.since == nil {
            pause.since = now
            pause.lastKeepAlive = now
            metrics.readPauses.increment()
            logger.debug("MQTT reading paused: a subscription's buffer is full")
        }
        return false
    }

    /// A PUBACK, a reply, a SUBACK or a ping's UNSUBACK someone waits for.
    private func hasNetworkWaiters() -> Bool {
        state.withLock { !$0.requests.isEmpty || !$0.subscribes.isEmpty || !$0.pings.isEmpty }
            || publishAcknowledgements.withLock { $0.hasWaiters }
    }

    /// Every half keep-alive of a pause, an UNSUBSCRIBE of the ping filter, so that the broker hears from us while
    /// `mosquitto_loop_misc` (which would drop the connection for want of a PINGRESP nobody reads) is not called.
    func keepAliveWhilePaused(_ pause: inout ReadPause, now: ContinuousClock.Instant) {
        guard now - pause.lastKeepAlive >= keepAliveInterval / 2 else { return }
        _ = mosquitto_unsubscribe_v5(handle, nil, Self.pingFilter, nil)
        pause.lastKeepAlive = now
    }

    /// How long a paused round may sleep before the next keep-alive is due.
    func untilKeepAlive(_ pause: ReadPause, now: ContinuousClock.Instant) -> Duration {
        max(.zero, keepAliveInterval / 2 - (now - pause.lastKeepAlive))
    }

    /// The keep-alive sent in CONNECT (libmosquitto takes whole seconds, at least 5 here).
    var keepAliveInterval: Duration { .seconds(max(5, configuration.keepAlive.components.seconds)) }

    /// Gives the buffered-messages gauge the current sum when it changed (once per round of the loop at most).
    func reportBuffered(_ pause: inout ReadPause) {
        let buffered = readPressure.buffered.load(ordering: .relaxed)
        guard buffered != pause.reportedBuffered else { return }
        metrics.messagesBuffered.record(buffered)
        pause.reportedBuffered = buffered
    }
}
