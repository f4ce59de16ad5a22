@testable import BuildWorker
import Testing

/// Which builder errors count as a broken registry connection (retried) and which stay the
/// build's own failure.
struct TransientRegistryFailureTests {
    @Test(arguments: [
        // The cluster test's case: the replica serving a base layer was killed mid-download.
        "Error: creating build container: writing blob: setting up to decompress blob: happened during read: unexpected EOF",
        "Error: initializing source docker://10.0.0.4:8080/ns/base:latest: pinging container registry 10.0.0.4:8080: Get \"http://10.0.0.4:8080/v2/\": dial tcp 10.0.0.4:8080: connect: connection refused",
        "Error: writing blob: uploading layer chunked: received unexpected HTTP status: 502 Bad Gateway",
        "Error: reading blob sha256:abc: read tcp 10.0.0.9:4242->10.0.0.4:8080: read: connection reset by peer",
    ])
    func brokenConnectionsAreTransient(_ line: String) {
        #expect(TransientRegistryFailure.matches(line))
    }

    @Test(arguments: [
        "Error: creating build container: initializing source docker://r/ns/base:latest: reading manifest latest in r/ns/base: unauthorized: access to the requested resource is not authorized",
        "Error: building at STEP \"RUN make\": while running runtime: exit status 2",
        "Error: initializing source docker://r/ns/base:nope: reading manifest nope in r/ns/base: manifest unknown",
        "Error: pinging container registry r: Get \"https://r/v2/\": http: server gave HTTP response to HTTPS client",
    ])
    func buildAndPermissionFailuresAreNot(_ line: String) {
        #expect(!TransientRegistryFailure.matches(line))
    }
}
