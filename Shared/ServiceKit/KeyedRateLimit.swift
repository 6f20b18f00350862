import Foundation
import Synchronization

/// A token bucket per key (a topic, a writer, a log message): `burst` at once, refilled at `perSecond`. Past
/// `maximumKeys` keys an arbitrary one is forgotten (it starts full again), so invented keys grow nothing. For
/// inputs that one misbehaving peer can flood: the flood is cut where it costs least, before any database work.
/// Key by what the peer cannot choose (the topic the broker lets it publish to), or it can drain others' buckets.
public final class KeyedRateLimit: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let perSecond: Double
    private let burst: Double
    private let maximumKeys: Int
    private let buckets = Mutex<[String: Bucket]>([:])

    public init(perSecond: Double, burst: Int, maximumKeys: Int = 10_000) {
        self.perSecond = perSecond
        self.burst = Double(burst)
        self.maximumKeys = maximumKeys
    }

    /// Whether `key` may go on now (taking a token).
    public func allows(_ key: String, now: ContinuousClock.Instant = .now) -> Bool {
        buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) / .seconds(1) * perSecond)
            bucket.updated = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            if buckets[key] == nil && buckets.count >= maximumKeys, !buckets.isEmpty { buckets.remove(at: buckets.startIndex) }
            buckets[key] = bucket
            return allowed
        }
    }
}
