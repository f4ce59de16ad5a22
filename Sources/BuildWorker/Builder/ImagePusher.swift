// Pushes a built image with `buildah push --digestfile` to its first tag, in the build's own
// container environment, retrying a few times with backoff (registries restart, tokens race);
// then points every further tag at that manifest with one PUT each (`ManifestTagger`), so the
// layers go up once. If tagging that way fails, the remaining tags get a whole `buildah push`
// each, as before. Returns tag → manifest digest as the registry stored it.

import Foundation
import Synchronization

public struct ImagePushError: Error, Sendable, Equatable, CustomStringConvertible {
    public let tag: String
    public let message: String
    public var description: String { "pushing tag \(tag) failed: \(message)" }
}

public struct ImagePusher: Sendable {
    public var executable: String
    public var attempts: Int
    /// Delay before the second attempt; doubled for each further one.
    public var backoff: Duration
    public var timeoutPerAttempt: Duration
    /// Tags after the first; nil: a whole push per tag.
    public var tagger: ManifestTagger?

    public init(executable: String = "buildah", attempts: Int = 3, backoff: Duration = .seconds(1),
                timeoutPerAttempt: Duration = .seconds(600), tagger: ManifestTagger? = ManifestTagger()) {
        self.executable = executable
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.timeoutPerAttempt = timeoutPerAttempt
        self.tagger = tagger
    }

    /// Pushes local `image` to `registry/repository:tag` for every tag. `tagCredentials` (the
    /// build's push credentials) let the tags after the first be set by manifest PUTs.
    /// - Throws: `ImagePushError` after the last failed attempt, `CancellationError` when cancelled.
    public func push(image: String, registry: String, repository: String, tags: [String],
                     credentials: (username: String, password: String)?, tlsVerify: Bool,
                     environment: ContainerEnvironment, tagCredentials: (username: String, password: String)? = nil,
                     onLine: @escaping @Sendable (String) -> Void) async throws -> [String: String] {
        var digests: [String: String] = [:]
        var remaining = tags[...]
        if let first = remaining.first, remaining.count > 1, let tagger, let login = tagCredentials ?? credentials {
            let digest = try await pushOne(image: image, destination: "\(registry)/\(repository):\(first)", tag: first,
                                           credentials: credentials, tlsVerify: tlsVerify, environment: environment, onLine: onLine)
            digests[first] = digest
            remaining = remaining.dropFirst()
            do {
                let tagged = try await tagger.tag(registry: registry, repository: repository, digest: digest, tags: Array(remaining),
                                                  username: login.username, password: login.password, tlsVerify: tlsVerify)
                onLine("tagged \(remaining.joined(separator: ", ")) as \(digest)")
                return digests.merging(tagged) { a, _ in a }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                onLine("tagging by manifest failed (\(error)); pushing each remaining tag")
            }
        }
        for tag in remaining {
            digests[tag] = try await pushOne(image: image, destination: "\(registry)/\(repository):\(tag)", tag: tag,
                                             credentials: credentials, tlsVerify: tlsVerify, environment: environment,
                                             onLine: onLine)
        }
        return digests
    }

    private func pushOne(image: String, destination: String, tag: String,
                         credentials: (username: String, password: String)?, tlsVerify: Bool,
                         environment: ContainerEnvironment, onLine: @escaping @Sendable (String) -> Void) async throws -> String {
        let digestFile = environment.root.appendingPathComponent("tmp/digest-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: digestFile) }
        var delay = backoff
        var lastError = "no attempt made"
        for attempt in 1...attempts {
            try Task.checkCancellation()
            if attempt > 1 {
                onLine("push of \(destination) failed (\(lastError)); retrying (attempt \(attempt) of \(attempts))")
                try await Task.sleep(for: delay)
                delay *= 2
            }
            let invocation = BuilderInvocation.push(executable: executable, image: image, destination: destination,
                                                    digestFile: digestFile, tlsVerify: tlsVerify, credentials: credentials,
                                                    environment: environment, timeout: timeoutPerAttempt)
            let lastErrorLine = LastErrorLine()
            let termination = try await BuilderProcess.run(invocation) { line in
                if case .error(let message) = BuildLogTranslator.classify(line) { lastErrorLine.set(message) }
                onLine(line)
            }
            if termination.stoppedBy == .cancelled { throw CancellationError() }
            if termination.succeeded,
               let digest = try? String(contentsOfFile: digestFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
               digest.hasPrefix("sha256:") {
                return digest
            }
            lastError = lastErrorLine.value ?? (termination.stoppedBy == .timedOut ? "timed out" : "\(termination.status)")
        }
        throw ImagePushError(tag: tag, message: lastError)
    }
}

/// The most recent error line seen from a child, set from the output thread.
final class LastErrorLine: Sendable {
    private let stored = Mutex<String?>(nil)
    func set(_ message: String) { stored.withLock { $0 = message } }
    var value: String? { stored.withLock { $0 } }

    /// containers/image reports registry errors as a list: "...: errors:" and the registry's
    /// answers on the lines after it. The first answer joins the error line, so the message (and
    /// the matching of pull failures) has the registry's words.
    func continueList(with line: String) {
        let answer = line.trimmingCharacters(in: .whitespaces)
        guard !answer.isEmpty else { return }
        stored.withLock { stored in
            guard let current = stored, current.hasSuffix("errors:") else { return }
            stored = current + " " + answer
        }
    }
}
