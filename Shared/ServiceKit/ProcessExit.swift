import Synchronization

/// How the process ends after its service group has shut down.
public final class ProcessExit: Sendable {
    /// The configuration is unusable (sysexits `EX_CONFIG`): fix it, restarting will not help.
    public static let configurationError: Int32 = 78
    /// A restart was requested (sysexits `EX_TEMPFAIL`): non-zero, so that compose `restart: on-failure` and
    /// systemd `Restart=on-failure` start the service again.
    public static let restartRequested: Int32 = 75

    private let state = Mutex<(code: Int32, reason: String?)>((0, nil))

    public init() {}

    public var code: Int32 { state.withLock { $0.code } }
    /// Why the service is going down on purpose, for its final status message.
    public var reason: String? { state.withLock { $0.reason } }

    public func request(code: Int32, reason: String) {
        state.withLock { $0 = (code, reason) }
    }
}
