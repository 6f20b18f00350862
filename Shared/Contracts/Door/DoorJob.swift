import Foundation

/// A signed order to pulse one door's relay, on `leitstand/door/{area}/jobs`. Never retained; published with a
/// message expiry equal to what is left of the confirm window.
public struct DoorJob: Codable, Sendable, Equatable {
    public var jobId: String
    public var area: String
    public var deviceId: String
    /// Single-use random value; the confirm must repeat it.
    public var nonce: String
    public var pulseMs: Int
    /// After this instant the device must refuse the job.
    public var expiresAt: Date
    /// Hex HMAC-SHA256 under the device secret of ``signedText``.
    public var sig: String
    /// During a secret rotation's grace period: the same HMAC under the previous secret, so that a device still
    /// holding only that one verifies the job too. Absent otherwise.
    public var previousSig: String?
    /// When the scheduler published the job, by its clock. Not signed: the device only compares it with its own
    /// clock to warn about skew.
    public var issuedAt: Date?
    /// The member's request ran out at this instant (Unix milliseconds): a job that reaches the device later (a
    /// broker that stalled after the scheduler handed it over) is refused, because its member has been told the
    /// open failed. Signed when present.
    public var deliverByMs: Int64?

    public init(
        jobId: String, area: String, deviceId: String, nonce: String, pulseMs: Int, expiresAt: Date,
        sig: String = "", previousSig: String? = nil, issuedAt: Date? = nil, deliverByMs: Int64? = nil
    ) {
        self.jobId = jobId
        self.area = area
        self.deviceId = deviceId
        self.nonce = nonce
        self.pulseMs = pulseMs
        self.expiresAt = expiresAt
        self.sig = sig
        self.previousSig = previousSig
        self.issuedAt = issuedAt
        self.deliverByMs = deliverByMs
    }

    /// `jobId|area|deviceId|nonce|pulseMs|expiresAt`, with `expiresAt` as ISO 8601 in UTC to the second, exactly
    /// as it is encoded on the wire, and `|deliverByMs` when the job has it.
    public var signedText: String {
        var fields = [jobId, area, deviceId, nonce, String(pulseMs), ContractCoding.timestamp(expiresAt)]
        if let deliverByMs { fields.append(String(deliverByMs)) }
        return fields.joined(separator: "|")
    }

    /// ``deliverByMs`` as a date.
    public var deliverBy: Date? { deliverByMs.map { Date(timeIntervalSince1970: Double($0) / 1_000) } }
}

/// A device's answer to a ``DoorJob``, on `leitstand/door/{area}/confirm`.
public struct DoorConfirm: Codable, Sendable, Equatable {
    public enum Result: String, Codable, Sendable { case executed, failed }

    public var jobId: String
    public var deviceId: String
    public var nonce: String
    public var result: Result
    /// A stable code for a failure (e.g. `GPIO_ERROR`), `OK` otherwise.
    public var code: String
    public var message: String
    /// When the pulse ended, by the device's clock; nil when nothing was pulsed.
    public var pulsedAt: Date?
    /// Hex HMAC-SHA256 under the device secret of ``signedText``.
    public var sig: String

    public init(jobId: String, deviceId: String, nonce: String, result: Result, code: String, message: String, pulsedAt: Date?, sig: String = "") {
        self.jobId = jobId
        self.deviceId = deviceId
        self.nonce = nonce
        self.result = result
        self.code = code
        self.message = message
        self.pulsedAt = pulsedAt
        self.sig = sig
    }

    /// `jobId|deviceId|nonce|result`.
    public var signedText: String { [jobId, deviceId, nonce, result.rawValue].joined(separator: "|") }
}

/// The retained presence of a door device on `leitstand/device/{deviceId}/status`; its last will says `offline`.
public struct DeviceStatus: Codable, Sendable, Equatable {
    public var state: ServiceStatus.State
    public var areas: [String]
    public var version: String
    public var at: Date?

    public init(state: ServiceStatus.State, areas: [String], version: String, at: Date?) {
        self.state = state
        self.areas = areas
        self.version = version
        self.at = at
    }
}
