import Foundation
import TestSupport
import Testing

extension ServiceOperationsTests {
    @Test("weak gateway secrets: a placeholder JWT secret or metrics token, an ingest token under 16 characters; exit 78, no value printed")
    func refusesWeakGatewaySecrets() async throws {
        let secrets = [
            "LEITSTAND_JWT_SECRET": "CHANGE-ME-at-least-32-characters-long", "LEITSTAND_TOKEN": "k7Qm2xVp9Lr4Tn8", "LEITSTAND_METRICS_TOKEN": "changeme",
        ]
        let environment = secrets.merging([
            "LEITSTAND_MQTT_URL": "mqtt://api-gateway:\(randomSecret())@127.0.0.1:1",
            "LEITSTAND_DATABASE_URL": "postgres://leitstand:\(randomSecret())@127.0.0.1:1/leitstand",
            "LEITSTAND_HTTP_HOST": "127.0.0.1", "LEITSTAND_HTTP_PORT": "\(try freeTCPPort())", "LEITSTAND_RPC_KEY": ServiceProcess.rpcKey,
        ]) { $1 }
        let gateway = try await ServiceProcess.startGateway(environment: environment, waitUntilListening: false)
        let code = try? await gateway.process.waitForExit()
        let output = gateway.process.output
        await gateway.stop()
        #expect(code == 78, "\(output)")
        #expect(output.contains("api-gateway: LEITSTAND_JWT_SECRET: is a placeholder"), "\(output)")
        #expect(output.contains("api-gateway: LEITSTAND_METRICS_TOKEN: is a placeholder"), "\(output)")
        #expect(output.contains("api-gateway: LEITSTAND_TOKEN: must be at least 16 characters long"), "\(output)")
        #expect(output.split(separator: "\n").filter { $0.hasPrefix("api-gateway: LEITSTAND_") }.count == 3, "\(output)")
        #expect(!output.contains("CHANGE-ME") && !output.contains("k7Qm2xVp9Lr4Tn8"), "a value in the output:\n\(output)")
    }

    @Test("a JWT secret the review found accepted: exit 78 naming LEITSTAND_JWT_SECRET, not the value (fails before: the gateway started)", arguments: [
        String(repeating: "ab", count: 18), "password1234567890password1234567890", "0123456789abcdef0123456789abcdef",
        "ÇHANGE-ME-at-least-32-characters-long",
    ])
    func refusesWeakJWTSecret(_ secret: String) async throws {
        let environment = [
            "LEITSTAND_JWT_SECRET": secret, "LEITSTAND_TOKEN": randomSecret(), "LEITSTAND_RPC_KEY": randomSecret() + randomSecret(),
            "LEITSTAND_MQTT_URL": "mqtt://api-gateway:\(randomSecret())@127.0.0.1:1",
            "LEITSTAND_DATABASE_URL": "postgres://leitstand:\(randomSecret())@127.0.0.1:1/leitstand",
            "LEITSTAND_HTTP_HOST": "127.0.0.1", "LEITSTAND_HTTP_PORT": "\(try freeTCPPort())",
        ]
        let gateway = try await ServiceProcess.startGateway(environment: environment, waitUntilListening: false)
        let code = try? await gateway.process.waitForExit()
        let output = gateway.process.output
        await gateway.stop()
        #expect(code == 78, "\(output)")
        #expect(output.split(separator: "\n").filter { $0.hasPrefix("api-gateway: LEITSTAND_") } == ["api-gateway: LEITSTAND_JWT_SECRET: is a placeholder (see docs/configuration.md), not a secret: generate one, e.g. `openssl rand -hex 32`"], "\(output)")
        #expect(!output.contains(secret), "the value in the output:\n\(output)")
    }
}
