/// The scheduler's answer to a ``DoorConfirm``, sent to the confirm's response topic once the confirm is recorded
/// (or refused for good). libmosquitto acknowledges a message before the scheduler has seen it, so a PUBACK proves
/// nothing: a device keeps a confirm and sends it again until it has this receipt.
public struct DoorConfirmReceipt: Codable, Sendable, Equatable {
    public var jobId: String
    /// The job's status after the confirm, when it was recorded (also as a late confirm of an expired job).
    public var status: DoorJobStatus?
    /// Why the confirm was refused (a ``DoorError`` code); sending it again would not change that.
    public var error: String?

    public init(jobId: String, status: DoorJobStatus? = nil, error: String? = nil) {
        self.jobId = jobId
        self.status = status
        self.error = error
    }
}
