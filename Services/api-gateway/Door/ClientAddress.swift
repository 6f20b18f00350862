import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Who a request comes from, for throttling failed logins: the TCP peer, or, when the peer is one of the
/// configured trusted reverse proxies (`LEITSTAND_TRUSTED_PROXIES`), the client that proxy names in
/// `X-Forwarded-For`. The header is read right to left and trusted only up to the first address that is not a
/// trusted proxy: anything further left is whatever the client chose to send.
struct ClientAddresses: Sendable {
    let trustedProxies: [AddressRange]
    private static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    /// The client's address as a throttle key: IPv4 as it is, IPv6 by its /64 (one host usually has a whole /64).
    func key(of request: Request, peer: SocketAddress?) -> String {
        guard let peerText = peer?.ipAddress, var client = IPAddress(peerText) else { return "unknown" }
        let forwarded = request.headers[values: Self.forwardedFor]
        if trustedProxies.contains(where: { $0.contains(client) }), !forwarded.isEmpty {
            let hops = forwarded.joined(separator: ",").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            for hop in hops.reversed() {
                guard let address = IPAddress(hop) else { break }
                client = address
                if !trustedProxies.contains(where: { $0.contains(address) }) { break }
            }
        }
        return client.throttleKey
    }

    /// Without `LEITSTAND_TRUSTED_PROXIES`: a reverse proxy on the same host. The shipped set-ups put the gateway
    /// on 127.0.0.1 behind one, and without believing it every client would share the proxy's address and its
    /// throttle; a client that reaches the gateway from loopback directly is on the host already.
    static let defaultTrustedProxies = "127.0.0.0/8,::1"

    /// `LEITSTAND_TRUSTED_PROXIES`: comma-separated addresses or CIDR ranges, or `none`; nil when one of them is
    /// neither.
    static func parse(_ text: String?) -> ClientAddresses? {
        let text = text ?? defaultTrustedProxies
        if text.trimmingCharacters(in: .whitespaces).lowercased() == "none" { return ClientAddresses(trustedProxies: []) }
        var ranges: [AddressRange] = []
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            guard let range = AddressRange(item) else { return nil }
            ranges.append(range)
        }
        return ClientAddresses(trustedProxies: ranges)
    }
}

/// An IPv4 or IPv6 address as 4 or 16 bytes (an IPv4-mapped IPv6 address counts as IPv4).
struct IPAddress: Sendable, Equatable {
    let bytes: [UInt8]

    init?(_ text: some StringProtocol) {
        var v4 = in_addr()
        var v6 = in6_addr()
        let text = String(text)
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            let all = withUnsafeBytes(of: &v6) { Array($0) }
            bytes = all.prefix(12).elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]) ? Array(all.suffix(4)) : all
        } else {
            return nil
        }
    }

    var throttleKey: String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        let prefix = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return prefix.joined(separator: ":") + "::/64"
    }
}

/// An address or a CIDR range (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`).
struct AddressRange: Sendable {
    let network: IPAddress
    let prefixLength: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let network = IPAddress(parts[0]) else { return nil }
        let maximum = network.bytes.count * 8
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...maximum).contains(length) else { return nil }
            prefixLength = length
        } else {
            prefixLength = maximum
        }
        self.network = network
    }

    func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == network.bytes.count else { return false }
        var remaining = prefixLength
        for (left, right) in zip(address.bytes, network.bytes) where remaining > 0 {
            let bits = min(remaining, 8)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if left & mask != right & mask { return false }
            remaining -= bits
        }
        return true
    }
}
