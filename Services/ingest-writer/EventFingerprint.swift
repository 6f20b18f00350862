/// 128 bits standing for one event id in the dedupe index: far smaller than the id itself, and two ids share a
/// fingerprint with a probability of about 2⁻¹²⁸ per pair. Two SipHash runs with this process's random seed; the
/// index is rebuilt from the day files at every start, so the seed need not outlive the process.
struct EventFingerprint: Hashable, Sendable {
    private let high: UInt64
    private let low: UInt64

    /// Which of `1 << bits` shards the fingerprint belongs to (its top bits; the set's buckets use the other word).
    func shard(bits: Int) -> Int { Int(high >> (64 - UInt64(bits))) }

    /// The fingerprint is already a hash: one word of it is enough for a set's buckets.
    func hash(into hasher: inout Hasher) {
        hasher.combine(low)
    }

    init(id: String) {
        var id = id
        self = id.withUTF8 { EventFingerprint(idBytes: UnsafeRawBufferPointer($0)) }
    }

    init(idBytes: UnsafeRawBufferPointer) {
        var first = Hasher()
        first.combine(0x5A as UInt8)
        first.combine(bytes: idBytes)
        var second = Hasher()
        second.combine(0xA5 as UInt8)
        second.combine(bytes: idBytes)
        high = UInt64(bitPattern: Int64(first.finalize()))
        low = UInt64(bitPattern: Int64(second.finalize()))
    }
}
