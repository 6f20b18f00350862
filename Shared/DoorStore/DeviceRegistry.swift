import Database
import DoorCrypto
import Foundation
import Logging
import PostgresNIO
import Primitives

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

/// A device's secrets opened, with the sealed bytes they came from. A statement can check against the sealed bytes
/// that a secret is still the device's (no rotation since, grace not over) in the same round trip that uses it.
public struct DeviceKeyring: Sendable {
    public var secrets: DeviceSecrets
    let sealedCurrent: Data
    let sealedPrevious: Data?

    /// Which secret signed a message: both are always checked, so the time taken does not tell which one matched.
    public func proof(of message: some DoorSignedMessage) -> SecretProof? {
        let byCurrent = message.hasValidSignature(secrets: [secrets.current])
        let byPrevious = secrets.previous.map { message.hasValidSignature(secrets: [$0]) } ?? false
        if byCurrent { return SecretProof(sealed: sealedCurrent, isPrevious: false) }
        if byPrevious, let sealedPrevious { return SecretProof(sealed: sealedPrevious, isPrevious: true) }
        return nil
    }

    /// The secret `proof` (from ``proof(of:)``) found: the one to sign the answer to that message with.
    public func secret(of proof: SecretProof) -> String {
        proof.isPrevious ? secrets.previous ?? secrets.current : secrets.current
    }
}

/// The secret a signature verified under, as stored: the statement that records the message requires it to be the
/// device's current secret, or its previous one within the grace period.
public struct SecretProof: Sendable {
    let sealed: Data
    let isPrevious: Bool
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

    /// Removes the device (its areas with it; its jobs stay, with its id). false: no such device.
    public func remove(id: String) async throws -> Bool {
        for try await _ in try await client.query("DELETE FROM devices WHERE id = \(id) RETURNING id", logger: logger).decode(String.self) {
            return true
        }
        return false
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
        try await keyring(of: id)?.secrets
    }

    /// The device's valid secrets now with their sealed form, or nil for an unknown device.
    public func keyring(of id: String) async throws -> DeviceKeyring? {
        for try await (current, previous) in try await client.execute(DoorStatements.Secrets(deviceID: id), logger: logger) {
            return DeviceKeyring(secrets: try open(id: id, current: current, previous: previous), sealedCurrent: current, sealedPrevious: previous)
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
