// libgit2's remote callbacks for everything that talks to a git server (the worker's clone, the
// server's ref listing): the deploy key from memory, the ssh host key checked against the pinned
// keys, and cancellation. One object per operation; libgit2 reaches it through the payload
// pointer, on the thread that runs the operation.

import BuildProtocol
import CLibgit2
import Foundation
import Synchronization

public final class GitRemoteAuth: Sendable {
    public let sshPrivateKey: String?
    public let sshHostKeys: GitHostKeyPolicy?
    private struct State {
        var cancelled = false
        /// Credential callback invocations; libgit2 calls again after a rejected key.
        var credentialAttempts = 0
        /// Why the ssh host key was refused, once the certificate check refused it.
        var hostKeyRefusal: String?
    }
    // Set from the task that cancels, read and written by libgit2's callbacks on the blocking thread.
    private let state = Mutex(State())

    public init(sshPrivateKey: String?, sshHostKeys: GitHostKeyPolicy?) {
        self.sshPrivateKey = sshPrivateKey
        self.sshHostKeys = sshHostKeys
    }

    public func cancel() { state.withLock { $0.cancelled = true } }
    public var isCancelled: Bool { state.withLock { $0.cancelled } }
    /// Why the ssh host key was refused, once the certificate check refused it.
    public var hostKeyRefusal: String? { state.withLock { $0.hostKeyRefusal } }

    /// Installs the callbacks; `self` must outlive the libgit2 call that uses them.
    public func install(_ callbacks: inout git_remote_callbacks) {
        state.withLock { s in
            s.credentialAttempts = 0
            s.hostKeyRefusal = nil
        }
        callbacks.payload = Unmanaged.passUnretained(self).toOpaque()
        callbacks.credentials = { out, _, usernameFromURL, allowedTypes, payload in
            let auth = Unmanaged<GitRemoteAuth>.fromOpaque(payload!).takeUnretainedValue()
            let attempt = auth.state.withLock { s in
                s.credentialAttempts += 1
                return s.credentialAttempts
            }
            guard attempt == 1 else { return GIT_EAUTH.rawValue }
            guard let key = auth.sshPrivateKey,
                  allowedTypes & GIT_CREDENTIAL_SSH_MEMORY.rawValue != 0 || allowedTypes & GIT_CREDENTIAL_SSH_KEY.rawValue != 0 else {
                return GIT_PASSTHROUGH.rawValue
            }
            let username = usernameFromURL.map { String(cString: $0) } ?? "git"
            return git_credential_ssh_key_memory_new(out, username, nil, key, nil)
        }
        callbacks.certificate_check = { cert, _, host, payload in
            // TLS certificates keep libgit2's verdict; ssh host keys must be pinned ones (libgit2's
            // own known_hosts check is ignored, so the machine's ~/.ssh plays no part).
            guard let cert, cert.pointee.cert_type == GIT_CERT_HOSTKEY_LIBSSH2 else { return GIT_PASSTHROUGH.rawValue }
            let auth = Unmanaged<GitRemoteAuth>.fromOpaque(payload!).takeUnretainedValue()
            let presented = SSHPresentedKey(cert)
            switch GitHostKeyPolicy.verdict(for: auth.sshHostKeys, host: host.map { String(cString: $0) } ?? "the git server",
                                            presented: presented.blob, fingerprint: presented.fingerprint) {
            case .trusted:
                return 0
            case .refused(let message):
                auth.state.withLock { $0.hostKeyRefusal = message }
                git_error_set_str(Int32(GIT_ERROR_SSH.rawValue), message)
                return GIT_ECERTIFICATE.rawValue
            }
        }
        callbacks.transfer_progress = { _, payload in
            Unmanaged<GitRemoteAuth>.fromOpaque(payload!).takeUnretainedValue().isCancelled ? -1 : 0
        }
        callbacks.sideband_progress = { _, _, payload in
            Unmanaged<GitRemoteAuth>.fromOpaque(payload!).takeUnretainedValue().isCancelled ? -1 : 0
        }
    }

    /// libgit2's message for the last failure on this thread.
    public static func lastError() -> String {
        guard let error = git_error_last(), let message = error.pointee.message else { return "unknown libgit2 error" }
        return String(cString: message)
    }
}

/// The host key in libgit2's certificate for an ssh connection: the raw blob and its SHA-256
/// fingerprint, when libssh2 provided them.
struct SSHPresentedKey {
    let blob: Data?
    let fingerprint: String?

    init(_ cert: UnsafeMutablePointer<git_cert>) {
        let hostkey = UnsafeRawPointer(cert).assumingMemoryBound(to: git_cert_hostkey.self).pointee
        let flags = hostkey.type.rawValue
        if flags & GIT_CERT_SSH_RAW.rawValue != 0, let raw = hostkey.hostkey, hostkey.hostkey_len > 0 {
            blob = Data(bytes: raw, count: hostkey.hostkey_len)
        } else {
            blob = nil
        }
        if flags & GIT_CERT_SSH_SHA256.rawValue != 0 {
            var digest = hostkey.hash_sha256
            fingerprint = withUnsafeBytes(of: &digest) { SSHHostKey.fingerprint(sha256: Array($0)) }
        } else {
            fingerprint = nil
        }
    }
}
