/// A command that could not do what was asked, for a reason found while running (no such member, nobody listens):
/// printed as `Error: …` and exit 1, without the usage text that a wrongly typed command gets.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
