import DoorStore
import Synchronization

/// The devices' secrets as the confirm consumer last read them, so that a confirm costs no extra read of the
/// device row. Never trusted on its own: a confirm verified with them is recorded only if the statement finds the
/// same secret still valid; otherwise the consumer reads the secrets afresh (see ``ConfirmConsumer``).
final class DeviceKeyrings: Sendable {
    private let keyrings = Mutex<[String: DeviceKeyring]>([:])

    subscript(deviceID: String) -> DeviceKeyring? {
        get { keyrings.withLock { $0[deviceID] } }
        set { keyrings.withLock { $0[deviceID] = newValue } }
    }
}
