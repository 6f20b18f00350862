/// The scheduler's answer to a ``DoorConfirm``, sent to the device's own reply topic once the confirm is recorded
/// (or refused for good). libmosquitto acknowledges a message before the scheduler has seen it, so a PUBACK proves
/// nothing: a device keeps a confirm and sends it again until it has this receipt. The receipt is signed with the
/// device's secret that signed the confirm (`sig` over ``signedText``): a receipt anyone else made ends nothing.
public struct DoorConfirmReceipt: Codable, Sendable, Equatable {
    public var jobId: String
    /// The job's status after the confirm, when it was recorded (also as a late confirm of an expired job).
    public var status: DoorJobStatus?
    /// Why the confirm was refused (a ``DoorError`` code); sending it again would not change that.
    public var error: String?
    /// Hex HMAC-SHA256 under the device secret of ``signedText``.
    public var sig: String

    public init(jobId: String, status: DoorJobStatus? = nil, error: String? = nil, sig: String = "") {
        self.jobId = jobId
        self.status = status
        self.error = error
        self.sig = sig
    }

    /// `receipt|jobId|status|error`, empty fields for what is absent.
    public var signedText: String { ["receipt", jobId, status?.rawValue ?? "", error ?? ""].joined(separator: "|") }
}
