@testable import BuildWorker
import Testing

@Suite("Manifest tagger")
struct ManifestTaggerTests {
    /// The registry's `WWW-Authenticate` parameters, quoted values with commas included.
    @Test func readsTheBearerChallenge() {
        let parameters = ManifestTagger.challengeParameters(#"realm="http://127.0.0.1:8080/v2/auth",service="127.0.0.1:8080",scope="repository:a/b:pull,push""#)
        #expect(parameters == ["realm": "http://127.0.0.1:8080/v2/auth", "service": "127.0.0.1:8080", "scope": "repository:a/b:pull,push"])
        #expect(ManifestTagger.challengeParameters("realm=x, service=y") == ["realm": "x", "service": "y"])
    }
}
