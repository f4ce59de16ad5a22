// Runs one `BuildPack` from source to pushed image:
//
//   unpacking  download the upload / archive URL and extract it safely, or clone the git commit
//   pulling    the builder starts (its first step is FROM, which pulls the base image)
//   building   from the second STEP (or the commit of a FROM-only Dockerfile)
//   pushing    `buildah push` of the first tag, a manifest PUT for each further tag
//   complete | error | internalerror | cancelled
//
// Everything lives in one work directory per build (source, download, container storage and
// credentials); it is deleted when the run ends, whatever the outcome. The vfs storage driver
// leaves no mounts behind, so deletion cannot hit a busy mount. With a base-image cache, the
// container storage is instead the namespace's storage in the cache (see BaseImageCache): the
// built image is removed from it after the push, the base images stay.

import BuildProtocol
import Crypto
import Foundation
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a build run reports while it runs.
public enum BuildEvent: Sendable, Equatable {
    case phase(PhaseUpdate)
    case log(BuildLogEntry)
}

public struct BuildRunner: Sendable {
    public struct Configuration: Sendable {
        /// Parent of the per-build work directories.
        public var workRoot: URL
        public var tool: BuilderTool
        /// Overrides the tool's executable (a path or a name in PATH).
        public var builderExecutable: String?
        public var isolation: BuilderIsolation
        public var pullAlways: Bool
        /// SIGTERM → SIGKILL grace when a build is cancelled or times out.
        public var killGrace: Duration
        public var pusher: ImagePusher
        /// Accept `file://` and local-path git sources (tests only).
        public var allowLocalSources: Bool
        public var extractionLimits: ExtractionLimits
        /// Keep the work directory after the run (debugging only).
        public var keepWorkDirectory: Bool
        /// Per-namespace base-image storages kept between builds; nil: every build pulls into a
        /// fresh storage.
        public var baseImageCache: BaseImageCache?
        /// With `.rootless` isolation, the user builders run as (nil: the worker's own user,
        /// when the worker is not root). Its work directories must be reachable by it.
        public var buildUser: BuildUser?
        /// What this worker can build (nil: read from the kernel when a build names platforms).
        public var platforms: WorkerPlatforms?

        public init(workRoot: URL, tool: BuilderTool = .buildah, builderExecutable: String? = nil,
                    isolation: BuilderIsolation = .chroot, pullAlways: Bool = true, killGrace: Duration = .seconds(5),
                    pusher: ImagePusher = ImagePusher(), allowLocalSources: Bool = false,
                    extractionLimits: ExtractionLimits = ExtractionLimits(), keepWorkDirectory: Bool = false,
                    baseImageCache: BaseImageCache? = nil, buildUser: BuildUser? = nil, platforms: WorkerPlatforms? = nil) {
            self.workRoot = workRoot
            self.tool = tool
            self.builderExecutable = builderExecutable
            self.isolation = isolation
            self.pullAlways = pullAlways
            self.killGrace = killGrace
            self.pusher = pusher
            self.allowLocalSources = allowLocalSources
            self.extractionLimits = extractionLimits
            self.keepWorkDirectory = keepWorkDirectory
            self.baseImageCache = baseImageCache
            self.buildUser = buildUser
            self.platforms = platforms
        }

        /// Who owns a build's files and runs its builders: the build user of rootless builds.
        var owner: BuildUser? { isolation == .rootless ? buildUser : nil }
    }

    public let configuration: Configuration
    private let extractor: BuildContextExtractor

    public init(configuration: Configuration, extractor: BuildContextExtractor = BuildContextExtractor()) {
        self.configuration = configuration
        self.extractor = extractor
    }

    /// Runs the build and returns its completion; never throws. Cancelling the calling task stops
    /// the build (the builder's whole process group is killed) and yields `.cancelled`.
    public func run(_ pack: BuildPack, events: @escaping @Sendable (BuildEvent) -> Void) async -> Completion {
        let fm = FileManager.default
        let safeID = String(pack.buildID.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }.prefix(64))
        let work = configuration.workRoot.appendingPathComponent("build-\(safeID)-\(pack.attempt)-\(UUID().uuidString.prefix(8))")
        do {
            try fm.createDirectory(at: work, withIntermediateDirectories: true)
            _ = chmod(work.path, 0o700)
        } catch {
            return finish(.internalError, "cannot create the build work directory: \(error.localizedDescription)", events)
        }
        // Nothing the build reports may carry one of its secrets.
        let redactor = SecretRedactor(secrets: pack.buildSecrets)
        for notice in pack.notices ?? [] { redactor.wrap(events)(.log(BuildLogEntry(message: notice))) }
        let cgroup = await limitGroup(for: pack, named: work.lastPathComponent, events: redactor.wrap(events))
        var completion = await run(pack, in: work, cgroup: cgroup, events: redactor.wrap(events))
        completion.message = completion.message.map(redactor.redact)
        if let cgroup { await DedicatedThread.run(name: "slipway-cgroup") { cgroup.remove() } }
        if !configuration.keepWorkDirectory {
            await DedicatedThread.run(name: "slipway-cleanup") { try? FileManager.default.removeItem(at: work) }
        }
        return completion
    }

    /// The control group enforcing the build's limits; nil when it has none or this machine
    /// cannot enforce them (the log says so: the build still runs).
    private func limitGroup(for pack: BuildPack, named name: String, events: @Sendable (BuildEvent) -> Void) async -> BuildCgroup? {
        guard let limits = pack.limits, !limits.isEmpty else { return nil }
        do {
            let group = try await DedicatedThread.run(name: "slipway-cgroup") { try BuildCgroup.create(name: name, limits: limits) }
            events(.log(BuildLogEntry(message: "resource limits: \(limits.summary), \(pack.timeoutSeconds) s")))
            return group
        } catch {
            events(.log(BuildLogEntry(message: "resource limits (\(limits.summary)) are not enforced on this worker: \(error)")))
            return nil
        }
    }

    private func run(_ pack: BuildPack, in work: URL, cgroup: BuildCgroup?, events: @escaping @Sendable (BuildEvent) -> Void) async -> Completion {
        // A multi-architecture build: each platform must be one this worker runs, natively or
        // under qemu-user emulation (the orchestrator leases by the platforms a worker reports,
        // so this refuses only a build that reached a worker it should not have).
        var platforms: [BuildPlatform] = []
        for name in pack.platforms ?? [] {
            guard let platform = BuildPlatform(name) else { return finish(.error, "[\(name)] is not a platform this worker knows", events) }
            if let refusal = (configuration.platforms ?? WorkerPlatforms.detect()).refusal(platform) {
                return finish(.error, "[\(platform)] \(refusal)", events)
            }
            platforms.append(platform)
        }
        events(.phase(PhaseUpdate(phase: .unpacking)))

        // Source.
        let sourceDirectory = work.appendingPathComponent("source")
        let contextComponents: [String]
        let dockerfileComponents: [String]
        do {
            contextComponents = try Self.relativeComponents(pack.contextPath, what: "build context directory")
            dockerfileComponents = try Self.relativeComponents(pack.dockerfilePath.isEmpty ? "Dockerfile" : pack.dockerfilePath,
                                                               what: "Dockerfile path")
            guard !dockerfileComponents.isEmpty else {
                throw BuildRunnerError("the Dockerfile path '\(pack.dockerfilePath)' does not name a file")
            }
        } catch {
            return finish(.error, "\(error)", events)
        }
        do {
            switch pack.source {
            case .upload(let url), .archiveURL(let url):
                let download = work.appendingPathComponent("upload")
                try await downloadContext(of: pack, from: url, to: download)
                _ = try await extractor.extract(from: download, into: sourceDirectory,
                                                dockerfilePath: (contextComponents + dockerfileComponents).joined(separator: "/"),
                                                limits: configuration.extractionLimits)
                try? FileManager.default.removeItem(at: download)
            case .git(let url, let commit, let key):
                try await GitSource(allowLocalSources: configuration.allowLocalSources)
                    .clone(url: url, commit: commit, into: sourceDirectory, sshPrivateKey: key, sshHostKeys: pack.sshHostKeys)
            }
        } catch let error as BuildContextError where error.code == .cancelled {
            return finish(.cancelled, nil, events)
        } catch let error as GitSourceError where error.code == .cancelled {
            return finish(.cancelled, nil, events)
        } catch is CancellationError {
            return finish(.cancelled, nil, events)
        } catch let error as BuildContextError where error.code == .io {
            return finish(.internalError, "could not prepare the build context: \(error.message)", events)
        } catch let error as DownloadError {
            if case .upload = pack.source {
                return finish(.internalError, "could not fetch the uploaded build context: \(error.message)", events)
            }
            return finish(.error, "could not download the archive: \(error.message)", events)
        } catch {
            return finish(.error, "\(error)", events)
        }
        if Task.isCancelled { return finish(.cancelled, nil, events) }

        let context: URL
        let dockerfile: URL
        do {
            (context, dockerfile) = try Self.resolve(source: sourceDirectory, context: contextComponents, dockerfile: dockerfileComponents)
        } catch {
            return finish(.error, "\(error)", events)
        }

        // Build: in the namespace's storage of the worker's base-image cache when there is one
        // (buildah still asks the registry for the base with this build's credentials), else in
        // a fresh storage of the work directory.
        var pullData = Self.baseImageData(dockerfile: dockerfile)
        if let username = pack.pullCredentials?.username { pullData["pull_username"] = username }
        let namespace = pack.repository.split(separator: "/").first.map(String.init) ?? pack.repository
        let cache = configuration.baseImageCache
        let secretFiles: [String: String]
        do {
            secretFiles = try Self.writeSecrets(pack.buildSecrets ?? [:], in: work)
        } catch {
            return finish(.internalError, "cannot write the build's secrets: \(error.localizedDescription)", events)
        }
        // Rootless: everything prepared as the worker becomes the build user's (source, secrets).
        if let owner = configuration.owner {
            do {
                try await DedicatedThread.run(name: "slipway-handover") { try owner.take(work.path, recursive: true) }
            } catch {
                return finish(.internalError, "cannot hand the build's files to the build user: \(error)", events)
            }
        }
        if !platforms.isEmpty {
            // Every platform in a fresh storage of the work directory: the namespace's base-image
            // cache holds one platform's bases.
            return await buildAndPushIndex(pack, platforms: platforms, context: context, dockerfile: dockerfile, work: work,
                                           pullData: pullData, secretFiles: secretFiles, cgroup: cgroup, events: events)
        }
        let lease = await cache?.lease(namespace: namespace)
        let (completion, builderStopped) = await buildAndPush(pack, context: context, dockerfile: dockerfile, work: work,
                                                              lease: lease, pullData: pullData, secretFiles: secretFiles,
                                                              cgroup: cgroup, events: events)
        if let cache, let lease { await cache.finish(lease, drop: builderStopped || completion.outcome == .cancelled) }
        return completion
    }

    private func buildAndPush(_ pack: BuildPack, context: URL, dockerfile: URL, work: URL, lease: BaseImageCacheLease?,
                              pullData: [String: String], secretFiles: [String: String], cgroup: BuildCgroup?,
                              events: @escaping @Sendable (BuildEvent) -> Void) async -> (Completion, builderStopped: Bool) {
        // The secrets are needed by the builder only: gone before the push starts.
        defer { Self.removeSecrets(in: work) }
        var attempt: BuildAttempt
        switch await buildImage(pack, context: context, dockerfile: dockerfile, work: work, storage: lease?.storage,
                                pullData: pullData, secretFiles: secretFiles, cgroup: cgroup, events: events) {
        case .failed(let early): return (early, false)
        case .started(let first): attempt = first
        }
        if let lease, attempt.failedBeforeBuilding, !attempt.refusedByRegistry(pack) {
            // A cache must never fail a build: run it again the way it ran before the cache, and
            // have the storage dropped if that gets further.
            events(.log(BuildLogEntry(message: "the base-image cache of namespace \(lease.namespace) failed this build before its first step; building again in a fresh storage")))
            await removeLocalImage(attempt)
            switch await buildImage(pack, context: context, dockerfile: dockerfile, work: work, storage: nil,
                                    pullData: nil, secretFiles: secretFiles, cgroup: cgroup, events: events) {
            case .failed(let early): return (early, false)
            case .started(let retry):
                if retry.progress.isBuilding { lease.markBroken() }
                attempt = retry
            }
        }
        Self.removeSecrets(in: work)
        var completion = await pushResult(of: attempt, pack, events: events)
        if completion.outcome == .complete { completion.dockerfileDigest = Self.sha256(of: dockerfile) }
        await removeLocalImage(attempt)
        return (completion, attempt.termination.stoppedBy != nil)
    }

    /// One builder run; `.failed` carries the completion of a run that could not start.
    /// `pullData` nil: the pulling phase was already reported.
    func buildImage(_ pack: BuildPack, context: URL, dockerfile: URL, work: URL, storage: ContainerStorageLocation?,
                    pullData: [String: String]?, secretFiles: [String: String], platform: BuildPlatform? = nil, cgroup: BuildCgroup?,
                    events: @escaping @Sendable (BuildEvent) -> Void) async -> BuildStart {
        let environment: ContainerEnvironment
        do {
            environment = try ContainerEnvironment(root: work.appendingPathComponent("containers"), sharedStorage: storage,
                                                   owner: configuration.owner)
        } catch {
            return .failed(finish(.internalError, "cannot prepare the container environment: \(error.localizedDescription)", events))
        }
        let references = pack.tags.map { "\(pack.registry)/\(pack.repository):\($0)" }
        // In a shared storage the image gets a name no other build uses; it is pushed under
        // the real tags all the same and removed afterwards.
        // One platform of several gets a name of its own too: the index is pushed from them.
        let localImage = storage != nil || platform != nil ? "localhost/slipway-build/\(UUID().uuidString.lowercased()):latest"
            : references.first ?? "localhost/slipway-build/\(pack.buildID.lowercased()):latest"
        // Credentials go into the build's own auth.json (mode 0600, deleted with the work
        // directory), never onto a command line where /proc would show them: the pull robot for
        // the registry as a whole, the push token for the target repository (more specific wins).
        do {
            var auths: [String: RegistryCredentials] = ["\(pack.registry)/\(pack.repository)": pack.pushCredentials]
            if let pull = pack.pullCredentials { auths[pack.registry] = pull }
            if let cache = pack.layerCache { auths["\(pack.registry)/\(cache.repository)"] = cache.credentials }
            try environment.writeCredentials(auths)
        } catch {
            return .failed(finish(.internalError, "cannot write registry credentials: \(error.localizedDescription)", events))
        }
        // In the namespace's cache storage, the registry is asked for each base's current digest
        // with this build's credentials and the build names those digests (`BaseImagePin`);
        // when that cannot be done, buildah re-checks with --pull-always as before.
        var builtDockerfile = dockerfile
        var pinnedBases: [String: String] = [:]
        if storage != nil, let text = try? String(contentsOf: dockerfile, encoding: .utf8),
           let pinned = await BaseImagePin().pinnedDockerfile(text, pack: pack) {
            let file = work.appendingPathComponent("Dockerfile.pinned-\(UUID().uuidString.prefix(8))")
            if (try? Data(pinned.text.utf8).write(to: file)) != nil {
                builtDockerfile = file
                pinnedBases = pinned.digests
            }
        }
        let invocation = BuilderInvocation.build(
            tool: configuration.tool, executable: configuration.builderExecutable, isolation: configuration.isolation,
            contextDirectory: context.path, dockerfile: builtDockerfile.path,
            tags: storage != nil || platform != nil || references.isEmpty ? [localImage] : references,
            // Always with a shared storage: the pull is the registry's check of this build's
            // right to the cached base.
            pullAlways: pinnedBases.isEmpty && (configuration.pullAlways || storage != nil), tlsVerify: pack.tlsVerify, pullCredentials: nil,
            buildArgs: pack.buildArgs ?? [:], secretFiles: secretFiles,
            layerCache: pack.layerCache.map { "\(pack.registry)/\($0.repository)" },
            platform: platform?.description,
            environment: environment,
            timeout: pack.timeoutSeconds > 0 ? .seconds(pack.timeoutSeconds) : nil, killGrace: configuration.killGrace,
            cgroupProcs: cgroup?.procsFiles ?? [])

        if let pullData { events(.phase(PhaseUpdate(phase: .pulling, data: pullData))) }
        if let cache = pack.layerCache {
            events(.log(BuildLogEntry(message: "layer cache: \(pack.registry)/\(cache.repository) (steps an earlier build ran are reused)")))
        }
        for (reference, digest) in pinnedBases.sorted(by: { $0.key < $1.key }) {
            events(.log(BuildLogEntry(message: "base image: \(reference) is \(digest) (the registry answered this build's credentials just now)")))
        }
        if let storage {
            events(.log(BuildLogEntry(message: "base image: this worker's cache for the namespace (\(storage.driver) storage); the registry is asked for it with this build's credentials")))
        }

        let progress = BuildProgress()
        let termination: BuilderTermination
        do {
            termination = try await BuilderProcess.run(invocation) { line in
                let classified = BuildLogTranslator.classify(line)
                switch classified {
                case .step(let index, _, _) where index >= 2:
                    if progress.enterBuilding() { events(.phase(PhaseUpdate(phase: .building))) }
                case .error(let message):
                    progress.lastError.set(message)
                case .output where line.hasPrefix("COMMIT"):
                    if progress.enterBuilding() { events(.phase(PhaseUpdate(phase: .building))) }
                case .output:
                    progress.lastError.continueList(with: line)
                default:
                    break
                }
                events(.log(BuildLogTranslator.entry(for: line)))
            }
        } catch {
            return .failed(finish(.internalError, "\(error)", events))
        }
        return .started(BuildAttempt(environment: environment, localImage: localImage, shared: storage != nil,
                                     termination: termination, progress: progress,
                                     exceededLimit: termination.succeeded ? nil : cgroup?.exceededLimit()))
    }

    /// Judges the builder run and, when it built the image, pushes it.
    private func pushResult(of attempt: BuildAttempt, _ pack: BuildPack, events: @escaping @Sendable (BuildEvent) -> Void) async -> Completion {
        if let failed = failure(of: attempt, pack, events: events) { return failed }

        // Push.
        events(.phase(PhaseUpdate(phase: .pushing)))
        let digests: [String: String]
        do {
            digests = try await configuration.pusher.push(
                image: attempt.localImage, registry: pack.registry, repository: pack.repository, tags: pack.tags,
                credentials: nil, tlsVerify: pack.tlsVerify, environment: attempt.environment,
                tagCredentials: (pack.pushCredentials.username, pack.pushCredentials.password)) { line in
                events(.log(BuildLogTranslator.entry(for: line)))
            }
        } catch {
            return pushFailure(error, events)
        }
        events(.phase(PhaseUpdate(phase: .complete)))
        return Completion(outcome: .complete, manifestDigests: digests)
    }

    /// The completion of a push that threw.
    func pushFailure(_ error: any Error, _ events: @escaping @Sendable (BuildEvent) -> Void) -> Completion {
        if error is CancellationError { return finish(.cancelled, nil, events) }
        if TransientRegistryFailure.matches("\(error)") {
            return finish(.internalError, "pushing the image failed on a broken registry connection (\(error)); the build will be retried", events)
        }
        return finish(.error, "\(error)", events)
    }

    /// The completion of a builder run that did not build its image (nil when it did; the
    /// building phase is then reported if it was not yet).
    func failure(of attempt: BuildAttempt, _ pack: BuildPack, events: @escaping @Sendable (BuildEvent) -> Void) -> Completion? {
        let termination = attempt.termination
        let progress = attempt.progress
        switch termination.stoppedBy {
        case .cancelled:
            return finish(.cancelled, nil, events)
        case .timedOut:
            return finish(.error, "the build did not finish within \(pack.timeoutSeconds) seconds and was stopped", events)
        case nil:
            break
        }
        guard termination.succeeded else {
            if let exceeded = attempt.exceededLimit { return finish(.error, exceeded, events) }
            if let last = progress.lastError.value,
               let remedy = BaseImagePullFailure.remedy(for: last, registry: pack.registry, repository: pack.repository,
                                                        pullRobot: pack.pullCredentials?.username) {
                return finish(.error, remedy, events)
            }
            if !progress.isBuilding, let last = progress.lastError.value, TransientRegistryFailure.matches(last) {
                return finish(.internalError, "pulling the base image failed on a broken registry connection (\(last)); the build will be retried",
                              events)
            }
            let message = progress.lastError.value ?? {
                switch termination.status {
                case .exited(let code): return "the builder exited with status \(code)"
                case .signaled(let signal): return "the builder was killed by signal \(signal)"
                }
            }()
            return finish(.error, message, events, logged: progress.lastError.value != nil)
        }
        if progress.enterBuilding() { events(.phase(PhaseUpdate(phase: .building))) }
        return nil
    }

    /// Writes each secret to `<work>/secrets/<id>` (directory 0700, files 0600; the work
    /// directory is outside the build context, so no COPY can reach them). Returns id → path.
    static func writeSecrets(_ secrets: [String: String], in work: URL) throws -> [String: String] {
        guard !secrets.isEmpty else { return [:] }
        let directory = work.appendingPathComponent("secrets")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var files: [String: String] = [:]
        for (id, value) in secrets {
            // The orchestrator validated the id; a worker still refuses one that is not a plain name.
            guard !id.isEmpty, !id.contains("/"), id != ".", id != ".." else { throw BuildSecretFileError(id: id) }
            let path = directory.appendingPathComponent(id).path
            guard FileManager.default.createFile(atPath: path, contents: Data(value.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw BuildSecretFileError(id: id)
            }
            files[id] = path
        }
        return files
    }

    /// `sha256:<hex>` of a file (the Dockerfile, for the build's provenance); nil if unreadable.
    static func sha256(of file: URL) -> String? {
        guard let data = try? Data(contentsOf: file) else { return nil }
        return "sha256:" + SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    static func removeSecrets(in work: URL) {
        try? FileManager.default.removeItem(at: work.appendingPathComponent("secrets"))
    }

    /// Removes the built image from a shared storage (the namespace's base images stay); a
    /// fresh storage goes with the work directory anyway. Failures only cost cache space.
    func removeLocalImage(_ attempt: BuildAttempt) async {
        guard attempt.shared else { return }
        let invocation = BuilderInvocation(executable: configuration.builderExecutable ?? configuration.tool.rawValue,
                                           arguments: ["rmi", "-f", attempt.localImage], environment: attempt.environment.variables,
                                           workingDirectory: attempt.environment.root.path, timeout: .seconds(120),
                                           user: attempt.environment.owner)
        _ = try? await BuilderProcess.run(invocation) { _ in }
    }

    /// Emits the terminal phase (and, for failures not already in the log, an error entry).
    func finish(_ outcome: Completion.Outcome, _ message: String?, _ events: @Sendable (BuildEvent) -> Void,
                logged: Bool = false) -> Completion {
        if let message, !logged {
            events(.log(BuildLogEntry(message: message, type: "error")))
        }
        let phase: BuildPhase
        switch outcome {
        case .complete: phase = .complete
        case .error: phase = .error
        case .internalError: phase = .internalError
        case .cancelled: phase = .cancelled
        }
        events(.phase(PhaseUpdate(phase: phase)))
        return Completion(outcome: outcome, message: message ?? (outcome == .cancelled ? "the build was cancelled" : nil))
    }
}

struct BuildRunnerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A builder run that ran, or the completion of one that could not start.
enum BuildStart {
    case started(BuildAttempt)
    case failed(Completion)
}

/// A finished builder run and where its image is.
struct BuildAttempt: Sendable {
    let environment: ContainerEnvironment
    let localImage: String
    /// Built in a namespace storage of the base-image cache.
    let shared: Bool
    let termination: BuilderTermination
    let progress: BuildProgress
    /// The resource limit that stopped the builder, in words.
    let exceededLimit: String?

    /// Failed on its own (not stopped) before any build step ran.
    var failedBeforeBuilding: Bool {
        termination.stoppedBy == nil && !termination.succeeded && !progress.isBuilding
    }

    /// The registry refused or broke the base image pull: a fresh storage would fare no better.
    func refusedByRegistry(_ pack: BuildPack) -> Bool {
        guard let last = progress.lastError.value else { return false }
        return BaseImagePullFailure.remedy(for: last, registry: pack.registry, repository: pack.repository,
                                           pullRobot: pack.pullCredentials?.username) != nil
            || TransientRegistryFailure.matches(last)
    }
}

/// Phase bookkeeping shared with the builder's output thread.
final class BuildProgress: Sendable {
    private let building = Atomic<Bool>(false)
    let lastError = LastErrorLine()

    /// Whether a build step (past the base image pull) has started.
    var isBuilding: Bool { building.load(ordering: .acquiring) }

    /// True the first time only.
    func enterBuilding() -> Bool {
        building.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}

// MARK: - Paths

extension BuildRunner {
    /// Splits a user-supplied relative path; a leading `/` is accepted (Quay spells paths that
    /// way), `..` never is.
    static func relativeComponents(_ path: String, what: String) throws -> [String] {
        let components = path.split(separator: "/").map(String.init).filter { $0 != "." }
        if components.contains("..") || path.contains("\0") {
            throw BuildRunnerError("the \(what) '\(path)' escapes the build source ('..' is not allowed)")
        }
        return components
    }

    /// The context directory and Dockerfile, resolved through symbolic links and checked to stay
    /// inside the source (a git repository may contain links anywhere).
    static func resolve(source: URL, context: [String], dockerfile: [String]) throws -> (URL, URL) {
        guard let root = realPath(source.path) else { throw BuildRunnerError("the build source is missing") }
        let contextCandidate = ([source.path] + context).joined(separator: "/")
        guard let contextPath = realPath(contextCandidate), isDirectory(contextPath) else {
            throw BuildRunnerError("the build context directory '\(context.joined(separator: "/"))' does not exist in the source")
        }
        guard contextPath == root || contextPath.hasPrefix(root + "/") else {
            throw BuildRunnerError("the build context directory '\(context.joined(separator: "/"))' points outside the build source")
        }
        let dockerfileCandidate = ([contextPath] + dockerfile).joined(separator: "/")
        guard let dockerfilePath = realPath(dockerfileCandidate) else {
            throw BuildRunnerError("no Dockerfile at '\(dockerfile.joined(separator: "/"))' in the build context")
        }
        guard dockerfilePath.hasPrefix(contextPath + "/") else {
            throw BuildRunnerError("the Dockerfile '\(dockerfile.joined(separator: "/"))' points outside the build context")
        }
        var info = stat()
        guard stat(dockerfilePath, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw BuildRunnerError("the Dockerfile '\(dockerfile.joined(separator: "/"))' is not a regular file")
        }
        return (URL(fileURLWithPath: contextPath), URL(fileURLWithPath: dockerfilePath))
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// `base_image`, `base_image_tag` and `registry_url` of the first FROM, for the pulling phase.
    static func baseImageData(dockerfile: URL) -> [String: String] {
        guard let text = try? String(contentsOf: dockerfile, encoding: .utf8) else { return [:] }
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let words = rawLine.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let first = words.first, first.uppercased() == "FROM" else { continue }
            guard let image = words.dropFirst().first(where: { !$0.hasPrefix("--") }) else { return [:] }
            return imageData(image)
        }
        return [:]
    }

    static func imageData(_ image: String) -> [String: String] {
        var name = image
        var tag = "latest"
        if let at = name.firstIndex(of: "@") {
            tag = String(name[name.index(after: at)...])
            name = String(name[..<at])
        } else if let colon = name.lastIndex(of: ":"), !name[colon...].contains("/") {
            tag = String(name[name.index(after: colon)...])
            name = String(name[..<colon])
        }
        var data = ["base_image": name, "base_image_tag": tag]
        let first = name.split(separator: "/").first.map(String.init) ?? ""
        if name.contains("/"), first.contains(".") || first.contains(":") || first == "localhost" {
            data["registry_url"] = first
        }
        return data
    }
}

struct BuildSecretFileError: Error, LocalizedError {
    let id: String
    var errorDescription: String? { "cannot write secret \(id.prefix(64))" }
}
