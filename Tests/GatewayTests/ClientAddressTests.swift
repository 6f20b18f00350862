import HTTPTypes
import Hummingbird
import NIOCore
import Testing

@testable import api_gateway

@Suite("The gateway's client addresses for login throttling: peers, trusted proxies, X-Forwarded-For")
struct ClientAddressTests {
    static func request(forwardedFor: [String]) -> Request {
        var headers = HTTPFields()
        for value in forwardedFor { headers.append(HTTPField(name: HTTPField.Name("X-Forwarded-For")!, value: value)) }
        let head = HTTPRequest(method: .post, scheme: "http", authority: "gateway", path: "/api/auth/login", headerFields: headers)
        return Request(head: head, body: .init(buffer: ByteBuffer()))
    }

    static func peer(_ address: String) throws -> SocketAddress { try SocketAddress(ipAddress: address, port: 40_000) }

    @Test("without trusted proxies the peer is the client, whatever X-Forwarded-For says")
    func untrustedPeer() throws {
        let addresses = try #require(ClientAddresses.parse("none"))
        #expect(addresses.key(of: Self.request(forwardedFor: ["203.0.113.9"]), peer: try Self.peer("192.0.2.1")) == "192.0.2.1")
        #expect(addresses.key(of: Self.request(forwardedFor: ["203.0.113.9"]), peer: try Self.peer("127.0.0.1")) == "127.0.0.1")
    }

    @Test("by default a proxy on the same host is believed (the shipped set-ups put one in front), nobody else")
    func loopbackByDefault() throws {
        let addresses = try #require(ClientAddresses.parse(nil))
        #expect(addresses.key(of: Self.request(forwardedFor: ["203.0.113.9"]), peer: try Self.peer("127.0.0.1")) == "203.0.113.9")
        #expect(addresses.key(of: Self.request(forwardedFor: ["203.0.113.9"]), peer: try Self.peer("::1")) == "203.0.113.9")
        #expect(addresses.key(of: Self.request(forwardedFor: ["203.0.113.9"]), peer: try Self.peer("192.0.2.1")) == "192.0.2.1")
    }

    @Test("behind trusted proxies the right-most address that is not a proxy is the client; what a client wrote further left is ignored")
    func trustedProxies() throws {
        let addresses = try #require(ClientAddresses.parse("127.0.0.1, 10.0.0.0/8"))
        let peer = try Self.peer("127.0.0.1")
        #expect(addresses.key(of: Self.request(forwardedFor: ["198.51.100.7"]), peer: peer) == "198.51.100.7")
        #expect(addresses.key(of: Self.request(forwardedFor: ["1.2.3.4, 198.51.100.7, 10.1.2.3"]), peer: peer) == "198.51.100.7")
        #expect(addresses.key(of: Self.request(forwardedFor: ["1.2.3.4", "198.51.100.7"]), peer: peer) == "198.51.100.7")
        // Garbage in the header: the last address that parsed stands.
        #expect(addresses.key(of: Self.request(forwardedFor: ["not-an-address"]), peer: peer) == "127.0.0.1")
        #expect(addresses.key(of: Self.request(forwardedFor: []), peer: peer) == "127.0.0.1")
        // Only from a proxy: the same header from anyone else says nothing.
        #expect(addresses.key(of: Self.request(forwardedFor: ["198.51.100.7"]), peer: try Self.peer("192.0.2.1")) == "192.0.2.1")
    }

    @Test("IPv6 clients are counted by their /64; IPv4-mapped addresses as IPv4")
    func ipv6() throws {
        let addresses = try #require(ClientAddresses.parse("::1"))
        #expect(addresses.key(of: Self.request(forwardedFor: ["2001:db8:1:2:aaaa::1"]), peer: try Self.peer("::1")) == "2001:db8:1:2::/64")
        #expect(addresses.key(of: Self.request(forwardedFor: ["2001:db8:1:2:bbbb::9"]), peer: try Self.peer("::1")) == "2001:db8:1:2::/64")
        #expect(addresses.key(of: Self.request(forwardedFor: ["::ffff:192.0.2.33"]), peer: try Self.peer("::1")) == "192.0.2.33")
    }

    @Test("LEITSTAND_TRUSTED_PROXIES must be addresses or CIDR ranges", arguments: ["10.0.0.0/33", "proxy.example", "10.0.0.1/x", "::1/129"])
    func badProxyList(_ text: String) {
        #expect(ClientAddresses.parse(text) == nil)
    }

    @Test("CIDR ranges contain what they should", arguments: [
        ("10.0.0.0/8", "10.255.1.2", true), ("10.0.0.0/8", "11.0.0.1", false), ("192.168.1.0/25", "192.168.1.127", true),
        ("192.168.1.0/25", "192.168.1.128", false), ("fd00::/8", "fd12::1", true), ("fd00::/8", "fe80::1", false),
        ("0.0.0.0/0", "8.8.8.8", true), ("10.0.0.0/8", "fd00::1", false),
    ])
    func ranges(_ range: String, _ address: String, _ contained: Bool) throws {
        let parsed = try #require(AddressRange(range))
        #expect(parsed.contains(try #require(IPAddress(address))) == contained)
    }

    @Test("a session token's header algorithm is read as it stands")
    func headerAlgorithm() {
        #expect(MemberSessions.headerAlgorithm(of: "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.e30.c2ln") == "HS512")
        #expect(MemberSessions.headerAlgorithm(of: "eyJhbGciOiJIUzI1NiJ9.e30.c2ln") == "HS256")
        #expect(MemberSessions.headerAlgorithm(of: "not a token") == nil)
    }
}
