import Contracts
import DoorCrypto
import Foundation
import Testing

@Suite("Door signatures and sealed device secrets")
struct DoorCryptoTests {
    @Test("HMAC-SHA256 matches RFC 4231 and the openssl command line")
    func knownAnswers() throws {
        // RFC 4231, test case 2.
        #expect(DoorSignature.sign("what do ya want for nothing?", secret: "Jefe") == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        let text = "j-1|lobby|pi-7|n0nce|800|2026-11-23T12:43:38Z"
        let secret = "0123456789abcdef0123456789abcdef"
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["dgst", "-sha256", "-hmac", secret, "-r"]
        let input = Pipe()
        let output = Pipe()
        openssl.standardInput = input
        openssl.standardOutput = output
        try openssl.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        openssl.waitUntilExit()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(printed.split(separator: " ").first.map(String.init) == DoorSignature.sign(text, secret: secret))
    }

    @Test("a signature verifies under any of the device's secrets and under nothing else")
    func verification() {
        let job = DoorJob(jobId: "j", area: "a", deviceId: "d", nonce: "n", pulseMs: 500, expiresAt: Date(timeIntervalSince1970: 1_800_000_000))
        let signed = job.signed(with: "old-secret-0123456789")
        #expect(signed.hasValidSignature(secrets: ["new-secret-0123456789", "old-secret-0123456789"]))
        #expect(!signed.hasValidSignature(secrets: ["new-secret-0123456789"]))
        #expect(!signed.hasValidSignature(secrets: []))
        var tampered = signed
        tampered.pulseMs = 10_000
        #expect(!tampered.hasValidSignature(secrets: ["old-secret-0123456789"]))
        var upperCase = signed
        upperCase.sig = signed.sig.uppercased()
        #expect(upperCase.hasValidSignature(secrets: ["old-secret-0123456789"]))
        for broken in ["", "zz", String(signed.sig.dropLast()), signed.sig + "00"] {
            var bad = signed
            bad.sig = broken
            #expect(!bad.hasValidSignature(secrets: ["old-secret-0123456789"]), "\(broken)")
        }
        let confirm = DoorConfirm(jobId: "j", deviceId: "d", nonce: "n", result: .executed, code: "OK", message: "", pulsedAt: nil).signed(with: "s-0123456789abcdef")
        #expect(confirm.hasValidSignature(secrets: ["s-0123456789abcdef"]))
        var flipped = confirm
        flipped.result = .failed
        #expect(!flipped.hasValidSignature(secrets: ["s-0123456789abcdef"]))
    }

    @Test("sealed secrets open only with the same key and for the same device")
    func sealing() throws {
        let key = SecretSealer.newKeyText()
        #expect(key.count == 64)
        let sealer = try #require(SecretSealer(keyText: key))
        let secret = SecretSealer.newDeviceSecret()
        let sealed = try sealer.seal(secret, deviceID: "pi-1")
        #expect(!String(decoding: sealed, as: UTF8.self).contains(secret))
        #expect(try sealer.open(sealed, deviceID: "pi-1") == secret)
        #expect(throws: SecretSealerError.cannotOpen(deviceID: "pi-2")) { try sealer.open(sealed, deviceID: "pi-2") }
        let otherKey = try #require(SecretSealer(keyText: SecretSealer.newKeyText()))
        #expect(throws: SecretSealerError.cannotOpen(deviceID: "pi-1")) { try otherKey.open(sealed, deviceID: "pi-1") }
        var flipped = sealed
        flipped[flipped.count - 1] ^= 1
        #expect(throws: SecretSealerError.cannotOpen(deviceID: "pi-1")) { try sealer.open(flipped, deviceID: "pi-1") }
        // Two seals of one secret differ (fresh nonce), so equal secrets are not visible in a dump.
        #expect(try sealer.seal(secret, deviceID: "pi-1") != sealed)
    }

    @Test("the sealing key is 32 bytes as hex or base64; anything else is refused")
    func keyText() {
        #expect(SecretSealer(keyText: String(repeating: "ab", count: 32)) != nil)
        #expect(SecretSealer(keyText: Data(repeating: 7, count: 32).base64EncodedString()) != nil)
        #expect(SecretSealer(keyText: "  " + String(repeating: "AB", count: 32) + "\n") != nil)
        for bad in ["", "short", String(repeating: "ab", count: 31), String(repeating: "ab", count: 33), Data(repeating: 7, count: 16).base64EncodedString()] {
            #expect(SecretSealer(keyText: bad) == nil, "\(bad)")
        }
    }
}
