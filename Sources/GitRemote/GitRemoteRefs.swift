// `git ls-remote` through libgit2: connect to a git server (with the deploy key and the pinned
// ssh host keys, as a clone would), read the refs it advertises and its default branch, and
// disconnect. No objects are fetched. The server uses it to turn a manual trigger run's branch
// or tag into the commit it builds, so the run's tags come from the same rules as a webhook's.

import BuildProtocol
import CLibgit2
import Foundation

public struct GitRemoteRefs: Sendable {
    public struct Listing: Sendable, Equatable {
        /// Ref name → commit id (annotated tags peeled to their commit).
        public var refs: [String: String]
        /// The branch HEAD points to (`main`), when the server says.
        public var defaultBranch: String?
    }

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public enum Code: Sendable, Equatable { case hostKeyRefused, unreachable, timedOut }
        public let code: Code
        public let description: String
    }

    public var timeout: Duration

    public init(timeout: Duration = .seconds(20)) {
        self.timeout = timeout
    }

    public func list(url: String, sshPrivateKey: String?, sshHostKeys: GitHostKeyPolicy?) async throws(Failure) -> Listing {
        let auth = GitRemoteAuth(sshPrivateKey: sshPrivateKey, sshHostKeys: sshHostKeys)
        let result = await BlockingThread.run(name: "slipway-ls-remote", timeout: timeout, onTimeout: { auth.cancel() }) {
            Result { () throws(Failure) in try Self.listBlocking(url: url, auth: auth) }
        }
        guard let result else { throw Failure(code: .timedOut, description: "\(url) did not answer within \(timeout)") }
        return try result.get()
    }

    static let libraryInitialised: Bool = {
        git_libgit2_init()
        return true
    }()

    static func listBlocking(url: String, auth: GitRemoteAuth) throws(Failure) -> Listing {
        _ = libraryInitialised
        var remote: OpaquePointer?
        guard git_remote_create_detached(&remote, url) == 0, let remote else {
            throw Failure(code: .unreachable, description: "'\(url)' cannot be used: \(GitRemoteAuth.lastError())")
        }
        defer { git_remote_free(remote) }
        var callbacks = git_remote_callbacks()
        git_remote_init_callbacks(&callbacks, UInt32(GIT_REMOTE_CALLBACKS_VERSION))
        auth.install(&callbacks)
        let rc = git_remote_connect(remote, GIT_DIRECTION_FETCH, &callbacks, nil, nil)
        if let refusal = auth.hostKeyRefusal { throw Failure(code: .hostKeyRefused, description: refusal) }
        guard rc == 0 else { throw Failure(code: .unreachable, description: "cannot reach \(url): \(GitRemoteAuth.lastError())") }
        defer { git_remote_disconnect(remote) }

        var heads: UnsafeMutablePointer<UnsafePointer<git_remote_head>?>?
        var count = 0
        guard git_remote_ls(&heads, &count, remote) == 0, let heads else {
            throw Failure(code: .unreachable, description: "cannot list the refs of \(url): \(GitRemoteAuth.lastError())")
        }
        var refs: [String: String] = [:]
        for i in 0..<count {
            guard let head = heads[i]?.pointee, let cName = head.name else { continue }
            var oid = head.oid
            var text = [CChar](repeating: 0, count: Int(GIT_OID_HEXSZ) + 1)
            git_oid_fmt(&text, &oid)
            let name = String(cString: cName)
            let id = String(cString: text)
            if name.hasSuffix("^{}") {
                refs[String(name.dropLast(3))] = id  // the commit an annotated tag points to
            } else if refs[name] == nil {
                refs[name] = id
            }
        }
        var buffer = git_buf()
        defer { git_buf_dispose(&buffer) }
        var defaultBranch: String?
        if git_remote_default_branch(&buffer, remote) == 0, let pointer = buffer.ptr {
            let ref = String(cString: pointer)
            if ref.hasPrefix("refs/heads/") { defaultBranch = String(ref.dropFirst("refs/heads/".count)) }
        }
        return Listing(refs: refs, defaultBranch: defaultBranch)
    }
}
