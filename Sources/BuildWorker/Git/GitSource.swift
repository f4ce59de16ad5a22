// Fetches a build's git source at one exact commit through libgit2 (never the git CLI, so no
// hooks, no config includes, no `ext::` helpers run on the worker).
//
//   1. the URL is vetted: https, http, git:// and ssh (URL or scp-like `user@host:path`) only;
//      `file://`, local paths and `ext::` are refused unless `allowLocalSources` is set (tests);
//   2. an empty repository is created and every branch and tag is fetched; if the commit is still
//      missing it is asked for by id (servers that allow it answer);
//   3. the commit is checked out detached (`GIT_CHECKOUT_FORCE`).
//
// libgit2 1.5 cannot shallow-fetch, so the whole history comes along. SSH authenticates with the
// trigger's deploy key, passed from memory (`git_credential_ssh_key_memory_new`), and the server's
// host key must be one the build pack pins (the trigger's recorded keys, `GitHostKeyPolicy`): a
// changed or unrecorded key stops the clone with a message naming both fingerprints and how to
// accept the new key. The worker's own known_hosts plays no part. HTTPS certificates are verified
// normally.
//
// libgit2 is blocking: every call runs on a dedicated thread, never on the cooperative pool.

import BuildProtocol
import Foundation
import CLibgit2
import GitRemote

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct GitSourceError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// The URL's scheme is not allowed (or the URL is malformed).
        case refusedURL = "REFUSED_URL"
        /// The commit is not a full hexadecimal object id.
        case invalidCommit = "INVALID_COMMIT"
        /// The repository could not be reached or read (network, authentication, not found).
        case fetchFailed = "FETCH_FAILED"
        /// The repository does not contain the commit.
        case commitNotFound = "COMMIT_NOT_FOUND"
        /// Writing the working tree failed.
        case checkoutFailed = "CHECKOUT_FAILED"
        /// The ssh server's host key is not one the trigger trusts.
        case hostKeyRefused = "HOST_KEY_REFUSED"
        case cancelled = "CANCELLED"
    }

    public let code: Code
    public let message: String
    public var description: String { message }

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

public struct GitSource: Sendable {
    /// Accept `file://` URLs and local paths (tests; never for user input).
    public var allowLocalSources: Bool

    public init(allowLocalSources: Bool = false) {
        self.allowLocalSources = allowLocalSources
    }

    /// Clones `url` into `directory` (must not exist or be empty) with `commit` checked out.
    /// - Parameter sshPrivateKey: PEM / OpenSSH private key for ssh URLs (a deploy key).
    /// - Parameter sshHostKeys: the host keys an ssh server may present; without them every
    ///   ssh host key is refused.
    public func clone(url: String, commit: String, into directory: URL, sshPrivateKey: String?,
                      sshHostKeys: GitHostKeyPolicy? = nil) async throws(GitSourceError) {
        try Self.vet(url: url, allowLocal: allowLocalSources)
        let commit = Self.isRef(commit) ? commit : commit.lowercased()
        // Quay's custom-git schema allows abbreviated ids (7+ digits); they resolve after fetching.
        guard Self.isRef(commit) || ((7...40).contains(commit.count) || commit.count == 64) && commit.allSatisfy(\.isHexDigit) else {
            throw GitSourceError(.invalidCommit, "'\(commit)' is neither a commit id (7 to 40 hexadecimal digits) nor refs/heads/<branch> or refs/tags/<tag>")
        }
        let job = CloneJob(url: url, commit: commit, directory: directory.path, sshPrivateKey: sshPrivateKey, sshHostKeys: sshHostKeys)
        let result = await withTaskCancellationHandler {
            await DedicatedThread.run(name: "slipway-git") { () -> Result<Void, GitSourceError> in
                Result { () throws(GitSourceError) in try job.run() }
            }
        } onCancel: {
            job.cancel()
        }
        try result.get()
    }

    /// `refs/heads/<branch>` or `refs/tags/<tag>` with a name git itself would accept (a manual
    /// trigger run names a branch or tag; the worker resolves it after fetching).
    static func isRef(_ s: String) -> Bool {
        for prefix in ["refs/heads/", "refs/tags/"] where s.hasPrefix(prefix) {
            let name = s.dropFirst(prefix.count)
            let forbidden: Set<Character> = [" ", "~", "^", ":", "?", "*", "[", "\\", "\u{7f}"]
            return !name.isEmpty && name.count <= 255 && !name.contains("..") && !name.hasPrefix("/") && !name.hasSuffix("/")
                && !name.hasSuffix(".lock") && !name.contains("@{") && !name.contains(where: { forbidden.contains($0) || $0.asciiValue.map { $0 < 32 } == true })
        }
        return false
    }

    /// Refuses anything but network transports (unless `allowLocal`).
    static func vet(url: String, allowLocal: Bool) throws(GitSourceError) {
        let lower = url.lowercased()
        if lower.hasPrefix("ext::") || lower.contains("::") {
            throw GitSourceError(.refusedURL, "git URL '\(url)' uses a remote helper, which is not allowed")
        }
        if let schemeEnd = lower.range(of: "://") {
            let scheme = String(lower[..<schemeEnd.lowerBound])
            switch scheme {
            case "https", "http", "git", "ssh", "git+ssh", "ssh+git":
                let rest = lower[schemeEnd.upperBound...]
                let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
                guard !host.isEmpty, host != "@" else {
                    throw GitSourceError(.refusedURL, "git URL '\(url)' has no host")
                }
                return
            case "file":
                if allowLocal { return }
                throw GitSourceError(.refusedURL, "git URL '\(url)' is a local file URL, which is not allowed")
            default:
                throw GitSourceError(.refusedURL, "git URL '\(url)' uses the unsupported scheme '\(scheme)'")
            }
        }
        // scp-like syntax: [user@]host:path, with no slash before the colon.
        if let colon = url.firstIndex(of: ":"), !url[..<colon].contains("/"), url.distance(from: url.startIndex, to: colon) > 1 {
            return
        }
        if allowLocal { return }
        throw GitSourceError(.refusedURL, "git URL '\(url)' is a local path, which is not allowed")
    }

    /// `git_libgit2_init` exactly once per process.
    static let libraryInitialised: Bool = {
        git_libgit2_init()
        return true
    }()
}

/// One clone, run from start to finish on its own thread; libgit2's remote callbacks (deploy
/// key, pinned host keys, cancellation) live in `GitRemoteAuth`.
private final class CloneJob: Sendable {
    let url: String
    let commit: String
    let directory: String
    let auth: GitRemoteAuth

    init(url: String, commit: String, directory: String, sshPrivateKey: String?, sshHostKeys: GitHostKeyPolicy?) {
        self.url = url
        self.commit = commit
        self.directory = directory
        self.auth = GitRemoteAuth(sshPrivateKey: sshPrivateKey, sshHostKeys: sshHostKeys)
    }

    func cancel() { auth.cancel() }
    var isCancelled: Bool { auth.isCancelled }

    func run() throws(GitSourceError) {
        _ = GitSource.libraryInitialised
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: directory), !existing.isEmpty {
            throw GitSourceError(.checkoutFailed, "the clone destination \(directory) is not empty")
        }
        if isCancelled { throw GitSourceError(.cancelled, "the clone was cancelled") }
        do {
            try fetchAndCheckout()
        } catch {
            // Leave nothing half-written behind.
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    private func fetchAndCheckout() throws(GitSourceError) {
        var repository: OpaquePointer?
        guard git_repository_init(&repository, directory, 0) == 0, let repository else {
            throw GitSourceError(.checkoutFailed, "cannot create the repository: \(Self.lastError())")
        }
        defer { git_repository_free(repository) }

        var remote: OpaquePointer?
        guard git_remote_create(&remote, repository, "origin", url) == 0, let remote else {
            throw GitSourceError(.refusedURL, "git URL '\(url)' cannot be used: \(Self.lastError())")
        }
        defer { git_remote_free(remote) }

        try fetch(remote, refspecs: ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"])
        var oid = git_oid()
        if GitSource.isRef(commit) {
            // Branches were fetched as remote-tracking refs; tags as themselves (peeled, so an
            // annotated tag yields its commit).
            let local = commit.hasPrefix("refs/heads/") ? "refs/remotes/origin/" + commit.dropFirst("refs/heads/".count) : commit
            var target: OpaquePointer?
            guard git_revparse_single(&target, repository, local + "^{commit}") == 0, let target else {
                throw GitSourceError(.commitNotFound, "\(commit) not found in \(url)")
            }
            oid = git_object_id(target).pointee
            git_object_free(target)
        } else if commit.count < 40 {
            // An abbreviated id names a commit only if exactly one fetched commit starts with it.
            var target: OpaquePointer?
            guard git_revparse_single(&target, repository, commit + "^{commit}") == 0, let target else {
                throw GitSourceError(.commitNotFound, "commit \(commit) not found (or ambiguous) in \(url)")
            }
            oid = git_object_id(target).pointee
            git_object_free(target)
        } else if git_oid_fromstr(&oid, commit) != 0 {
            throw GitSourceError(.invalidCommit, "'\(commit)' is not a valid commit id")
        }
        var object: OpaquePointer?
        if git_commit_lookup(&object, repository, &oid) != 0 {
            // Not on any branch or tag: ask for it by id (allowed by servers with
            // uploadpack.allowReachableSHA1InWant / allowAnySHA1InWant); ignore a refusal.
            try? fetch(remote, refspecs: [commit])
            if isCancelled { throw GitSourceError(.cancelled, "the clone was cancelled") }
            guard git_commit_lookup(&object, repository, &oid) == 0 else {
                throw GitSourceError(.commitNotFound, "commit \(commit) not found in \(url)")
            }
        }
        guard let commitObject = object else {
            throw GitSourceError(.commitNotFound, "commit \(commit) not found in \(url)")
        }
        defer { git_commit_free(commitObject) }

        var options = git_checkout_options()
        git_checkout_options_init(&options, UInt32(GIT_CHECKOUT_OPTIONS_VERSION))
        options.checkout_strategy = GIT_CHECKOUT_FORCE.rawValue
        guard git_checkout_tree(repository, commitObject, &options) == 0 else {
            throw GitSourceError(.checkoutFailed, "cannot check out commit \(commit): \(Self.lastError())")
        }
        guard git_repository_set_head_detached(repository, &oid) == 0 else {
            throw GitSourceError(.checkoutFailed, "cannot check out commit \(commit): \(Self.lastError())")
        }
    }

    private func fetch(_ remote: OpaquePointer, refspecs: [String]) throws(GitSourceError) {
        var options = git_fetch_options()
        git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION))
        options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE
        auth.install(&options.callbacks)

        let cStrings = refspecs.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        var pointers = cStrings
        let rc = pointers.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var array = git_strarray(strings: buffer.baseAddress, count: buffer.count)
            return git_remote_fetch(remote, &array, &options, nil)
        }
        if isCancelled { throw GitSourceError(.cancelled, "the clone was cancelled") }
        if let refusal = auth.hostKeyRefusal { throw GitSourceError(.hostKeyRefused, refusal) }
        guard rc == 0 else {
            throw GitSourceError(.fetchFailed, "cannot fetch \(url): \(Self.lastError())")
        }
    }

    static func lastError() -> String { GitRemoteAuth.lastError() }
}
