/// Values that stand where a secret belongs but keep nothing secret: what the shipped examples and the docs
/// write (`CHANGE-ME`, `user:pass@`, `<token>`) and what a person types when asked for one (`changeme`,
/// `password`, `xxxxxxxx`). A gateway started with the example's JWT secret, 37 characters long, signed sessions
/// with a key anyone can read in the repository; length alone does not tell a secret from a placeholder.
enum PlaceholderSecret {
    /// Placeholders however they are spelt: compared in lower case with everything but letters and digits
    /// removed, so `CHANGE-ME`, `change_me`, `<ChangeMe>` and `CHANGE-ME-at-least-32-characters-long` are one.
    static let markers = ["changeme", "changethis", "replaceme", "replacethis", "placeholder", "example", "yoursecret", "yourtoken", "yourpassword"]

    /// Whole values (spelt as for ``markers``) that name what belongs there instead of being it.
    static let wholeValues: Set<String> = [
        "secret", "password", "passwort", "passwd", "pass", "token", "key", "apikey", "secretkey", "jwtsecret", "devicesecret",
        "ingesttoken", "metricstoken", "default", "admin", "root", "test", "todo", "fixme", "tbd", "none", "null", "empty", "unset",
        "123456", "12345678", "123456789", "1234567890", "qwerty", "letmein",
    ]

    /// Whether `value` is a placeholder rather than a secret.
    static func matches(_ value: String) -> Bool {
        // One character repeated (`xxxxxxxx`, 64 zeros for a hex key) passes every length check and keeps nothing secret.
        if value.count >= 2, Set(value).count == 1 { return true }
        let letters = String(value.lowercased().unicodeScalars.filter { ("a"..."z").contains($0) || ("0"..."9").contains($0) })
        return wholeValues.contains(letters) || markers.contains { letters.contains($0) }
    }
}
