import ArgumentParser
import Foundation

/// A duration on the command line: a number with `s`, `m`, `h` or `d` (`90d`, `24h`, `30m`).
struct DurationArgument: ExpressibleByArgument, Sendable {
    let duration: Duration
    let text: String

    init?(argument: String) {
        guard let unit = argument.last, let value = Int(argument.dropLast()), value >= 0 else { return nil }
        let seconds: Int
        switch unit {
        case "s": seconds = value
        case "m": seconds = value * 60
        case "h": seconds = value * 3_600
        case "d": seconds = value * 86_400
        default: return nil
        }
        duration = .seconds(seconds)
        text = argument
    }
}

/// `a,b,c` as a list of area names, each `^[a-z0-9-]{1,64}$`.
struct AreaList: ExpressibleByArgument, Sendable {
    let areas: [String]

    init?(argument: String) {
        let areas = argument.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !areas.isEmpty, areas.allSatisfy(AreaList.isValid) else { return nil }
        self.areas = areas
    }

    static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d }
    }
}
