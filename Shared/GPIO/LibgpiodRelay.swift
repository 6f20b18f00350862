import CGPIOD
import Foundation
import Synchronization

/// The relay on a real GPIO line through libgpiod 1.6 (the kernel's character device, `/dev/gpiochipN`). The line
/// is requested as an output that starts inactive and is held until ``release()``, so nothing else can drive it;
/// with `active-low` the kernel inverts the level, so `active` always means "door relay energised".
public final class LibgpiodRelay: DoorRelay {
    /// Which line, as `LEITSTAND_GPIO` names it.
    public struct Line: Sendable, Equatable {
        public enum Address: Sendable, Equatable {
            case offset(chip: String, line: UInt32)
            case name(String)
        }

        public var address: Address
        public var activeLow: Bool

        public init(address: Address, activeLow: Bool) {
            self.address = address
            self.activeLow = activeLow
        }

        /// `chip=gpiochip0,line=17[,active-low]` or `line-name=GPIO17[,active-low]`.
        public init(_ specification: String) throws {
            var chip: String?
            var offset: UInt32?
            var name: String?
            var activeLow = false
            for part in specification.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
                switch (pair.first, pair.count) {
                case ("active-low", 1): activeLow = true
                case ("chip", 2): chip = pair[1]
                case ("line", 2):
                    guard let value = UInt32(pair[1]) else { throw GPIOError("line=\(pair[1]) is not a line number") }
                    offset = value
                case ("line-name", 2): name = pair[1]
                default: throw GPIOError("unknown part \"\(part)\" (expected chip=…,line=… or line-name=…, optionally active-low, or sim:/path)")
                }
            }
            switch (chip, offset, name) {
            case (let chip?, let offset?, nil): address = .offset(chip: chip, line: offset)
            case (nil, nil, let name?): address = .name(name)
            default: throw GPIOError("name the line either as chip=…,line=… or as line-name=…")
            }
            self.activeLow = activeLow
        }
    }

    private struct Handle: @unchecked Sendable {
        // libgpiod handles are not thread-safe; every use is under the mutex below.
        var line: OpaquePointer
    }

    private let handle: Mutex<Handle?>

    public init(_ line: Line, consumer: String) throws {
        let found: OpaquePointer?
        switch line.address {
        case .offset(let chipName, let offset):
            guard let chip = gpiod_chip_open_lookup(chipName) else { throw GPIOError("cannot open GPIO chip \(chipName): \(String(cString: strerror(errno)))") }
            found = gpiod_chip_get_line(chip, offset)
            if found == nil {
                let reason = String(cString: strerror(errno))
                gpiod_chip_close(chip)
                throw GPIOError("GPIO chip \(chipName) has no line \(offset): \(reason)")
            }
        case .name(let name):
            found = gpiod_line_find(name)
            if found == nil { throw GPIOError("no GPIO line is named \(name)") }
        }
        guard let found else { throw GPIOError("GPIO line not found") }
        let flags = line.activeLow ? Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0
        // Requested with the inactive value, so the relay never clicks while the client starts.
        guard gpiod_line_request_output_flags(found, consumer, flags, 0) == 0 else {
            let reason = String(cString: strerror(errno))
            gpiod_line_close_chip(found)
            throw GPIOError("cannot request the GPIO line as an output (is another program holding it?): \(reason)")
        }
        handle = Mutex(Handle(line: found))
    }

    public func set(active: Bool) throws {
        try handle.withLock { handle in
            guard let handle else { throw GPIOError("the GPIO line was released") }
            guard gpiod_line_set_value(handle.line, active ? 1 : 0) == 0 else {
                throw GPIOError("writing the GPIO line failed: \(String(cString: strerror(errno)))")
            }
        }
    }

    public func pulseEnded(_ pulse: RelayPulse) {}

    public func release() {
        handle.withLock { handle in
            guard let line = handle?.line else { return }
            _ = gpiod_line_set_value(line, 0)
            gpiod_line_release(line)
            gpiod_line_close_chip(line)
            handle = nil
        }
    }

    deinit { release() }
}
