import Database
import DoorCrypto
import Foundation
import Logging
import PostgresNIO
import ServiceKit

/// The secrets a device signs with: the current one and, during a rotation's grace period, the previous one.
public struct DeviceSecrets: Sendable, Equatable {
    public var current: String
    public var previous: String?

    public var all: [String] { [current] + (previous.map { [$0] } ?? []) }

    /// Whether `presented` is the SHA-256 of one of them, compared in constant time.
    public func matches(digest presented: String) -> Bool {
        var matched = false
        for secret in all where ConstantTime.equals(DoorSignature.digest(ofSecret: secret), presented.lowercased()) { matched = true }
        return matched
    }
}

/// A device as `leitstand device …` and the scheduler see it.
public struct DeviceRecord: Sendable, Equatable {
    public var id: String
    public var areas: [String]
    public var rotatedAt: Date?
    public var previousValidUntil: Date?
}

/// Door devices, their areas and their sealed secrets.
public struct DeviceRegistry: Sendable {
    let client: PostgresClient
    let sealer: SecretSealer
    let logger: Logger

    public init(client: PostgresClient, sealer: SecretSealer, logger: Logger) {
        self.client = client
        self.sealer = sealer
        self.logger = logger
    }

    /// Registers a device for `areas` (created when new) and returns its new secret, which is shown only here.
    public func add(id: String, areas: [String]) async throws -> String {
        let secret = SecretSealer.newDeviceSecret()
        let sealed = try sealer.seal(secret, deviceID: id)
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("INSERT INTO devices (id, secret_sealed) VALUES (\(id), \(sealed))", logger: logger)
            for area in areas {
                try await connection.query("INSERT INTO areas (name) VALUES (\(area)) ON CONFLICT DO NOTHING", logger: logger)
                try await connection.query("INSERT INTO device_areas (device_id, area) VALUES (\(id), \(area))", logger: logger)
            }
        }
        return secret
    }

    /// Gives the device a new secret; the old one stays valid for `grace`. Returns the new secret, or nil for an
    /// unknown device.
    public func rotateSecret(id: String, grace: Duration) async throws -> String? {
        let secret = SecretSealer.newDeviceSecret()
        let sealed = try sealer.seal(secret, deviceID: id)
        let graceSeconds = Double(grace.components.seconds)
        let rows = try await client.query(
            """
            UPDATE devices SET previous_secret_sealed = secret_sealed, secret_sealed = \(sealed),
                previous_valid_until = now() + make_interval(secs => \(graceSeconds)), rotated_at = now()
            WHERE id = \(id) RETURNING id
            """,
            logger: logger
        )
        for try await _ in rows.decode(String.self) { return secret }
        return nil
    }

    /// The device's valid secrets now, or nil for an unknown device.
    public func secrets(of id: String) async throws -> DeviceSecrets? {
        let rows = try await client.query(
            """
            SELECT secret_sealed, CASE WHEN previous_valid_until > now() THEN previous_secret_sealed END
            FROM devices WHERE id = \(id)
            """,
            logger: logger
        )
        for try await (current, previous) in rows.decode((Data, Data?).self) {
            return try open(id: id, current: current, previous: previous)
        }
        return nil
    }

    func open(id: String, current: Data, previous: Data?) throws -> DeviceSecrets {
        DeviceSecrets(current: try sealer.open(current, deviceID: id), previous: try previous.map { try sealer.open($0, deviceID: id) })
    }

    public func devices() async throws -> [DeviceRecord] {
        let rows = try await client.query(
            """
            SELECT d.id, coalesce(array_agg(a.area ORDER BY a.area) FILTER (WHERE a.area IS NOT NULL), '{}'), d.rotated_at, d.previous_valid_until
            FROM devices d LEFT JOIN device_areas a ON a.device_id = d.id GROUP BY d.id ORDER BY d.id
            """,
            logger: logger
        )
        var devices: [DeviceRecord] = []
        for try await (id, areas, rotatedAt, validUntil) in rows.decode((String, [String], Date?, Date?).self) {
            devices.append(DeviceRecord(id: id, areas: areas, rotatedAt: rotatedAt, previousValidUntil: validUntil))
        }
        return devices
    }
}
