import ServiceKit
import Testing

@Suite("HTTP connection cap from the environment")
struct HTTPConnectionLimitTests {
    @Test("LEITSTAND_HTTP_MAX_CONNECTIONS: 1 024 by default, at most half the file limit, a whole number from 1")
    func httpConnectionLimit() {
        var reader = ConfigurationReader(environment: [:])
        #expect(HTTPConnectionLimit.read(&reader, fileLimit: nil).maximum == 1_024)
        #expect(HTTPConnectionLimit.read(&reader, fileLimit: 65_536).maximum == 1_024)
        let lowered = HTTPConnectionLimit.read(&reader, fileLimit: 1_024)
        #expect(lowered.maximum == 512 && lowered.configured == 1_024 && lowered.fileLimit == 1_024)
        #expect(reader.problems.isEmpty)

        var set = ConfigurationReader(environment: ["LEITSTAND_HTTP_MAX_CONNECTIONS": "20"])
        #expect(HTTPConnectionLimit.read(&set, fileLimit: 1_024).maximum == 20)
        #expect(HTTPConnectionLimit.read(&set, fileLimit: 30).maximum == 15)
        #expect(set.problems.isEmpty)

        for value in ["0", "-5", "many", "2000000"] {
            var wrong = ConfigurationReader(environment: ["LEITSTAND_HTTP_MAX_CONNECTIONS": value])
            _ = HTTPConnectionLimit.read(&wrong, fileLimit: nil)
            #expect(wrong.problems.map(\.variable) == ["LEITSTAND_HTTP_MAX_CONNECTIONS"], "\(value)")
        }
    }
}
