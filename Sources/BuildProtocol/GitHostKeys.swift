// The SSH host keys a git clone over ssh must see, and the one decision both the worker (libgit2's
// certificate check while cloning) and the server (resolving a branch for a manual trigger run)
// take with them: trust the presented key, or refuse it with a message that says what changed
// and how to accept a new key. No path accepts whatever key a server presents.

import Foundation

/// One SSH public host key, as a line of `known_hosts` holds it.
public struct SSHHostKey: Codable, Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The key type inside the blob: `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ...
    public var type: String
    /// The public key blob, base64 (the second field of a `known_hosts` line).
    public var key: String
    /// OpenSSH's fingerprint: `SHA256:` and the unpadded base64 of the blob's SHA-256.
    public var fingerprint: String

    public init(type: String, key: String, fingerprint: String) {
        self.type = type
        self.key = key
        self.fingerprint = fingerprint
    }

    public var description: String { "\(type) \(fingerprint)" }

    /// `SHA256:<unpadded base64>` of a digest, as `ssh-keygen -l` prints it.
    public static func fingerprint(sha256 digest: some Sequence<UInt8>) -> String {
        var text = Data(digest).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return "SHA256:" + text
    }

    /// The type name a key blob starts with (a length-prefixed string), or nil.
    public static func blobType(_ blob: Data) -> String? {
        let bytes = [UInt8](blob)
        guard bytes.count >= 4 else { return nil }
        let length = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        guard length > 0, length <= 64, bytes.count >= 4 + length else { return nil }
        return String(bytes: bytes[4..<(4 + length)], encoding: .ascii)
    }
}

/// The host keys a trigger's ssh clone trusts, resolved when a worker leases the build.
public struct GitHostKeyPolicy: Codable, Sendable, Equatable {
    /// `host:port` the keys belong to (for messages).
    public var endpoint: String
    /// The pinned keys; a presented key must be one of them.
    public var keys: [SSHHostKey]
    /// Why no key is pinned, when `keys` is empty (the server could not read one).
    public var missingReason: String?
    /// The API path that records a new key (`POST` with `{"fingerprint": ...}`).
    public var acceptPath: String?

    public init(endpoint: String, keys: [SSHHostKey], missingReason: String? = nil, acceptPath: String? = nil) {
        self.endpoint = endpoint
        self.keys = keys
        self.missingReason = missingReason
        self.acceptPath = acceptPath
    }

    public enum Verdict: Sendable, Equatable {
        case trusted
        case refused(message: String)
    }

    /// Decides on the key a server presented (`blob`, with its SHA-256 fingerprint). A nil
    /// policy (an orchestrator that sends none) refuses, as does an empty one.
    public static func verdict(for policy: GitHostKeyPolicy?, host: String, presented blob: Data?, fingerprint: String?) -> Verdict {
        let presentedType = blob.flatMap(SSHHostKey.blobType) ?? "ssh"
        let presented = fingerprint.map { "\(presentedType) \($0)" } ?? "a \(presentedType) key"
        guard let policy else {
            return .refused(message: "the ssh host key of \(host) cannot be checked: this build carries no trusted host keys "
                            + "(the server is older than this worker); the server presented \(presented)")
        }
        let accept = acceptInstructions(policy, fingerprint: fingerprint)
        guard !policy.keys.isEmpty else {
            let why = policy.missingReason.map { " (the server could not read it: \($0))" } ?? ""
            return .refused(message: "no ssh host key is recorded for \(policy.endpoint), so the clone cannot verify the git server\(why). "
                            + "The server presented \(presented). If that is your git server's key, \(accept)")
        }
        if let blob, policy.keys.contains(where: { Data(base64Encoded: $0.key) == blob }) { return .trusted }
        if blob == nil, let fingerprint, policy.keys.contains(where: { $0.fingerprint == fingerprint }) { return .trusted }
        let trusted = policy.keys.map(\.description).joined(separator: ", ")
        return .refused(message: "the ssh host key of \(policy.endpoint) has changed: the server presented \(presented), "
                        + "but this trigger trusts \(trusted). Someone may be intercepting the connection, or the server's key was "
                        + "replaced. If you replaced it, \(accept)")
    }

    static func acceptInstructions(_ policy: GitHostKeyPolicy, fingerprint: String?) -> String {
        let body = fingerprint.map { #"{"fingerprint":"\#($0)"}"# } ?? "{}"
        guard let path = policy.acceptPath else {
            return "record the new key on the trigger (POST .../trigger/<uuid>/hostkeys with \(body))."
        }
        return "accept it with POST \(path) and the body \(body), or paste the server's known_hosts lines "
            + "(ssh-keyscan output) as {\"known_hosts\": \"...\"} to the same URL."
    }
}
