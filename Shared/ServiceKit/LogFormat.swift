import Foundation
import Logging

/// How a service writes its logs: one JSON object per line (for collectors) or human-readable text.
public enum LogFormat: String, Sendable {
    case json
    case text

    /// Installs the process-wide log handler; call once, first thing in `main`.
    public static func bootstrap(format: LogFormat, level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                switch format {
                case .json: JSONLogHandler(label: label)
                case .text: StreamLogHandler.standardError(label: label)
                }
            handler.logLevel = level
            return handler
        }
    }
}

extension ConfigurationReader {
    /// `LEITSTAND_LOG_LEVEL` (default info) and `LEITSTAND_LOG_FORMAT` (default json).
    public mutating func logging() -> (format: LogFormat, level: Logger.Level) {
        var level = Logger.Level.info
        if let text = optional("LEITSTAND_LOG_LEVEL") {
            if let parsed = Logger.Level(rawValue: text.lowercased()) { level = parsed } else {
                report("LEITSTAND_LOG_LEVEL", "must be one of trace, debug, info, notice, warning, error, critical")
            }
        }
        var format = LogFormat.json
        if let text = optional("LEITSTAND_LOG_FORMAT") {
            if let parsed = LogFormat(rawValue: text.lowercased()) { format = parsed } else {
                report("LEITSTAND_LOG_FORMAT", "must be json or text")
            }
        }
        return (format, level)
    }
}
