// Pushes the per-platform images of a multi-architecture build as one image index (#18):
//
//   buildah manifest create <list>
//   buildah manifest add --os --arch [--variant] <list> <image>     for each platform
//   buildah manifest push --all --format oci --digestfile F <list> docker://<repo>:<first tag>
//
// `manifest push --all` uploads every child manifest by digest (no tag) and only then the index
// under the first tag, so a failed child leaves no tag behind. The remaining tags are pointed at
// the index by `ManifestTagger` (one PUT each), as for a single image. Finally the index is read
// back and checked (`ImageIndex.verified`): one child per platform, each with its platform.

import BuildProtocol
import Foundation

public struct ImageIndexPusher: Sendable {
    public var executable: String
    public var attempts: Int
    public var backoff: Duration
    public var timeoutPerAttempt: Duration
    public var tagger: ManifestTagger

    public init(executable: String = "buildah", attempts: Int = 3, backoff: Duration = .seconds(1),
                timeoutPerAttempt: Duration = .seconds(900), tagger: ManifestTagger = ManifestTagger()) {
        self.executable = executable
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.timeoutPerAttempt = timeoutPerAttempt
        self.tagger = tagger
    }

    /// Pushes `images` (platform → local image) as one index under every tag; returns tag → index digest.
    /// - Throws: `ImagePushError` when a step fails after its retries, `CancellationError` when cancelled.
    public func push(images: [(platform: BuildPlatform, image: String)], registry: String, repository: String, tags: [String],
                     tlsVerify: Bool, environment: ContainerEnvironment, credentials: RegistryCredentials,
                     onLine: @escaping @Sendable (String) -> Void) async throws -> [String: String] {
        guard let first = tags.first else { return [:] }
        let list = "localhost/slipway-index/\(UUID().uuidString.lowercased()):latest"
        try await run(["manifest", "create", list], what: "creating the index", tag: first, environment: environment, onLine: onLine)
        for (platform, image) in images {
            var arguments = ["manifest", "add", "--os", platform.os, "--arch", platform.architecture]
            if let variant = platform.variant { arguments += ["--variant", variant] }
            try await run(arguments + [list, "containers-storage:" + image], what: "adding \(platform) to the index", tag: first,
                          environment: environment, onLine: onLine)
        }
        let digestFile = environment.root.appendingPathComponent("tmp/index-digest-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: digestFile) }
        var delay = backoff
        var digest: String?
        var failure: any Error = ImagePushError(tag: first, message: "buildah wrote no index digest")
        for attempt in 1...attempts {
            try Task.checkCancellation()
            if attempt > 1 {
                onLine("push of the index failed (\(failure)); retrying (attempt \(attempt) of \(attempts))")
                try await Task.sleep(for: delay)
                delay *= 2
            }
            do {
                try await run(["manifest", "push", "--all", "--format", "oci", "--tls-verify=\(tlsVerify)", "--digestfile", digestFile,
                               list, "docker://\(registry)/\(repository):\(first)"],
                              what: "pushing the index", tag: first, environment: environment, onLine: onLine)
                if let text = try? String(contentsOfFile: digestFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
                   text.hasPrefix("sha256:") {
                    digest = text
                    break
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                failure = error
            }
        }
        guard let digest else { throw failure }
        onLine("pushed index \(digest) (\(images.map(\.platform.description).joined(separator: ", "))) as \(repository):\(first)")
        var digests = [first: digest]
        let rest = Array(tags.dropFirst())
        do {
            if !rest.isEmpty {
                let tagged = try await tagger.tag(registry: registry, repository: repository, digest: digest, tags: rest,
                                                  username: credentials.username, password: credentials.password, tlsVerify: tlsVerify)
                digests.merge(tagged) { a, _ in a }
                onLine("tagged \(rest.joined(separator: ", ")) as \(digest)")
            }
            let (mediaType, body) = try await tagger.manifest(registry: registry, repository: repository, reference: digest,
                                                              username: credentials.username, password: credentials.password, tlsVerify: tlsVerify)
            let index = try ImageIndex.verified(body, contentType: mediaType, platforms: images.map(\.platform))
            for child in index.manifests {
                onLine("index child \(child.platform?.name ?? "?"): \(child.digest)")
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ImagePushError(tag: first, message: "\(error)")
        }
        return digests
    }

    /// One buildah run; throws `ImagePushError` naming `what` with buildah's last error line.
    @discardableResult
    private func run(_ arguments: [String], what: String, tag: String, environment: ContainerEnvironment,
                     onLine: @escaping @Sendable (String) -> Void) async throws -> BuilderTermination {
        let invocation = BuilderInvocation(executable: executable, arguments: arguments, environment: environment.variables,
                                           workingDirectory: environment.root.path, timeout: timeoutPerAttempt, user: environment.owner)
        let lastError = LastErrorLine()
        let termination = try await BuilderProcess.run(invocation) { line in
            if case .error(let message) = BuildLogTranslator.classify(line) { lastError.set(message) }
            onLine(line)
        }
        if termination.stoppedBy == .cancelled { throw CancellationError() }
        guard termination.succeeded else {
            throw ImagePushError(tag: tag, message: "\(what): \(lastError.value ?? (termination.stoppedBy == .timedOut ? "timed out" : "\(termination.status)"))")
        }
        return termination
    }
}
