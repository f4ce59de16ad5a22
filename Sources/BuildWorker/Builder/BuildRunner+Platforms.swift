// A multi-architecture build (#18): the Dockerfile is built once per platform
// (`buildah bud --platform os/arch[/variant]`, the same arguments, secrets and layer cache), one
// after the other in the build's storage; a platform that is not the worker's own runs its RUN
// steps under qemu-user emulation (binfmt_misc). Every log line and phase change of a platform
// carries it: lines start with `[os/arch]`, phase changes have a `platform` field. The first
// platform that fails fails the build, and nothing is pushed; only when all are built are they
// pushed as one image index (`ImageIndexPusher`: children by digest, then the index under the
// tags).

import BuildProtocol
import Foundation

extension BuildRunner {
    func buildAndPushIndex(_ pack: BuildPack, platforms: [BuildPlatform], context: URL, dockerfile: URL, work: URL,
                           pullData: [String: String], secretFiles: [String: String], cgroup: BuildCgroup?,
                           events: @escaping @Sendable (BuildEvent) -> Void) async -> Completion {
        defer { Self.removeSecrets(in: work) }
        events(.log(BuildLogEntry(message: "building \(platforms.count) platform\(platforms.count == 1 ? "" : "s"): "
                                  + platforms.map(\.description).joined(separator: ", ") + "; one image index is pushed once all are built")))
        var built: [(platform: BuildPlatform, attempt: BuildAttempt)] = []
        for platform in platforms {
            let tagged = Self.tagging(events, with: platform)
            switch await buildImage(pack, context: context, dockerfile: dockerfile, work: work, storage: nil,
                                    pullData: pullData, secretFiles: secretFiles, platform: platform, cgroup: cgroup, events: tagged) {
            case .failed(let early):
                return Self.naming(early, platform)
            case .started(let attempt):
                if let failed = failure(of: attempt, pack, events: tagged) { return Self.naming(failed, platform) }
                built.append((platform, attempt))
            }
        }
        Self.removeSecrets(in: work)
        guard let environment = built.first?.attempt.environment else { return finish(.internalError, "no platform was built", events) }
        events(.phase(PhaseUpdate(phase: .pushing, data: ["platforms": platforms.map(\.description).joined(separator: ",")])))
        let digests: [String: String]
        do {
            digests = try await ImageIndexPusher(executable: configuration.builderExecutable ?? configuration.pusher.executable).push(
                images: built.map { ($0.platform, $0.attempt.localImage) }, registry: pack.registry, repository: pack.repository,
                tags: pack.tags, tlsVerify: pack.tlsVerify, environment: environment, credentials: pack.pushCredentials) { line in
                events(.log(BuildLogTranslator.entry(for: line)))
            }
        } catch {
            return pushFailure(error, events)
        }
        var completion = Completion(outcome: .complete, manifestDigests: digests)
        completion.dockerfileDigest = Self.sha256(of: dockerfile)
        events(.phase(PhaseUpdate(phase: .complete)))
        return completion
    }

    /// `events` with each log line prefixed by `[platform]` and each phase change carrying it.
    static func tagging(_ events: @escaping @Sendable (BuildEvent) -> Void, with platform: BuildPlatform) -> @Sendable (BuildEvent) -> Void {
        let prefix = "[\(platform)] "
        return { event in
            switch event {
            case .log(var entry):
                entry.message = prefix + entry.message
                events(.log(entry))
            case .phase(var update):
                update.data["platform"] = platform.description
                events(.phase(update))
            }
        }
    }

    /// A failed platform's completion, its message naming the platform.
    static func naming(_ completion: Completion, _ platform: BuildPlatform) -> Completion {
        var completion = completion
        completion.message = completion.message.map { "[\(platform)] \($0)" }
        return completion
    }
}
