import Foundation

/// Values that stand where a secret belongs but keep nothing secret: what the shipped examples and the docs
/// write (`CHANGE-ME`, `user:pass@`, `<token>`) and what a person types when asked for one (`changeme`,
/// `password`, `xxxxxxxx`). A gateway started with the example's JWT secret, 37 characters long, signed sessions
/// with a key anyone can read in the repository; length alone does not tell a secret from a placeholder.
enum PlaceholderSecret {
    /// Placeholders however they are spelt: compared in lower case, diacritics folded, with everything but letters
    /// and digits removed, so `CHANGE-ME`, `change_me`, `<ChangeMe>`, `ÇHANGE-ME` and
    /// `CHANGE-ME-at-least-32-characters-long` are one.
    static let markers = ["changeme", "changethis", "replaceme", "replacethis", "placeholder", "example", "yoursecret", "yourtoken", "yourpassword"]

    /// Whole values (spelt as for ``markers``) that name what belongs there instead of being it.
    static let wholeValues: Set<String> = [
        "secret", "password", "passwort", "passwd", "pass", "token", "key", "apikey", "secretkey", "jwtsecret", "devicesecret",
        "ingesttoken", "metricstoken", "default", "admin", "root", "test", "todo", "fixme", "tbd", "none", "null", "empty", "unset",
        "123456", "12345678", "123456789", "1234567890", "qwerty", "letmein",
    ]

    /// Words that make a value someone's idea of a password (`MySecret2024`, `password1234567890password…`)
    /// unless the rest of it is a secret by itself (``isSecretOnItsOwn(_:)``).
    static let passwordWords = ["password", "passwort", "secret"]

    /// Whether `value` is a placeholder rather than a secret.
    static func matches(_ value: String) -> Bool {
        // One shorter string repeated (`xxxxxxxx`, `abab…`, 64 zeros, `0123456789abcdef` twice) passes every length
        // check and keeps no more secret than its unit; spelt as for the markers too (`Abab-ABAB`).
        if isRepetition(Array(value.unicodeScalars)) { return true }
        let letters = normalized(value)
        if isRepetition(Array(letters.unicodeScalars)) { return true }
        if wholeValues.contains(letters) || markers.contains(where: { letters.contains($0) }) { return true }
        var rest = letters
        for word in passwordWords { rest = rest.replacingOccurrences(of: word, with: "") }
        return rest.count < letters.count && !isSecretOnItsOwn(rest)
    }

    /// Lower case, diacritics and widths folded (`Ç` is `c`, `Ｃ` is `c`), only a–z and 0–9 kept.
    static func normalized(_ value: String) -> String {
        let folded = value.folding(options: [.caseInsensitive, .diacriticInsensitive, .widthInsensitive], locale: nil).lowercased()
        return String(folded.unicodeScalars.filter { ("a"..."z").contains($0) || ("0"..."9").contains($0) })
    }

    /// Whether `characters` is a shorter sequence repeated at least twice.
    static func isRepetition(_ characters: [Unicode.Scalar]) -> Bool {
        guard characters.count >= 2 else { return false }
        return (1...characters.count / 2).contains { unit in
            characters.count % unit == 0 && characters.indices.allSatisfy { characters[$0] == characters[$0 % unit] }
        }
    }

    /// What is left of a value without its password words still makes a secret: 20 letters and digits at least,
    /// both kinds, and no placeholder. The tests' fixed `test-jwt-secret-0123456789abcdef-xyz` keeps 26 of them;
    /// `MySecretPassword2024forLeitstand` keeps 18, `supersecretpasswordforleitstandprod` no digit.
    private static func isSecretOnItsOwn(_ rest: String) -> Bool {
        rest.count >= 20 && rest.contains(where: \.isLetter) && rest.contains(where: \.isNumber) && !matches(rest)
    }
}
