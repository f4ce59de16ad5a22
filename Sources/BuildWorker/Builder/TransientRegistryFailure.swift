/// Recognises a base-image pull or an image push that failed because the connection to the
/// registry broke (a replica behind the load balancer died mid-transfer, the balancer answered
/// 502/503, a connection was reset), not because of the build itself. Such a build ends as an
/// internal error, which the orchestrator retries (`builds` attempts) like a build whose worker
/// died, instead of failing the user's build for a fault of the infrastructure.
///
/// Only buildah's own error line is looked at, and only for the pull before the first build
/// step and for the push: a `RUN` step that prints "connection reset" is the build's own
/// failure and stays one.
enum TransientRegistryFailure {
    static let signatures = [
        "unexpected eof",
        "connection reset by peer",
        "connection refused",
        "broken pipe",
        "i/o timeout",
        "tls handshake timeout",
        "502 bad gateway",
        "503 service unavailable",
        "504 gateway timeout",
    ]

    /// True when `errorLine` reports a broken registry connection.
    static func matches(_ errorLine: String) -> Bool {
        let text = errorLine.lowercased()
        // A TLS/plain-HTTP mismatch is configuration, whatever else the line says.
        if text.contains("server gave http response to https client") { return false }
        return signatures.contains { text.contains($0) }
    }
}
