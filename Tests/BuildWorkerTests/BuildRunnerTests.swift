// End-to-end builds with the real buildah: sources served over HTTP or git://, the base image
// pulled from a throwaway docker-registry, the result pushed back and inspected with skopeo.

import BuildProtocol
@testable import BuildWorker
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One test's world: a registry seeded with busybox, a static file server for uploads, and a
/// work root for the runner.
private final class BuildWorld: @unchecked Sendable {
    let scratch: Scratch
    let registry: LocalRegistry
    let files: ServerProcess
    let filesPort: Int

    init() async throws {
        scratch = try Scratch("runner")
        registry = try await LocalRegistry.start()
        try FileManager.default.createDirectory(at: scratch.sub("www"), withIntermediateDirectories: true)
        filesPort = Ports.free()
        files = ServerProcess(["python3", "-m", "http.server", "--bind", "127.0.0.1", String(filesPort),
                               "--directory", scratch.sub("www").path])
        try await registry.seedBusybox()
        try await Ports.waitUntilListening(filesPort, what: "http.server")
    }

    func stop() async {
        await files.stop()
        await registry.stop()
    }

    /// Runs `body` in a fresh world and always stops its servers.
    static func with(_ body: (BuildWorld) async throws -> Void) async throws {
        let world = try await BuildWorld()
        do {
            try await body(world)
        } catch {
            await world.stop()
            throw error
        }
        await world.stop()
    }

    var base: String { "\(registry.address)/library/busybox:latest" }

    /// Writes `files` into a directory and serves it as `name` (a tar.gz).
    func serveArchive(_ files: [String: String], name: String = "context.tar.gz") async throws -> String {
        let directory = scratch.sub("src-\(UUID().uuidString.prefix(6))")
        for (path, content) in files {
            let url = directory.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try content.write(to: url, atomically: true, encoding: .utf8)
        }
        try await TestShell.run("tar -czf \(scratch.sub("www").appendingPathComponent(name).path) -C \(directory.path) .")
        return "http://127.0.0.1:\(filesPort)/\(name)"
    }

    func pack(_ source: BuildSource, repository: String = "farm/app", tags: [String] = ["v1"], contextPath: String = "",
              dockerfilePath: String = "Dockerfile", timeout: Int = 120) -> BuildPack {
        BuildPack(buildID: "b-\(UUID().uuidString.prefix(8))", leaseID: "l1", attempt: 1, source: source, contextPath: contextPath,
                  dockerfilePath: dockerfilePath, registry: registry.address, repository: repository, tags: tags,
                  pushCredentials: RegistryCredentials(username: "$token", password: "push-secret"),
                  pullCredentials: RegistryCredentials(username: "farm+puller", password: "pull-secret"),
                  tlsVerify: false, timeoutSeconds: timeout, heartbeatIntervalSeconds: 10,
                  allowPrivateTargets: true)  // archive URLs here are served on loopback
    }

    func runner(allowLocal: Bool = false, grace: Duration = .seconds(5)) -> BuildRunner {
        BuildRunner(configuration: .init(workRoot: scratch.sub("work"), killGrace: grace,
                                         pusher: ImagePusher(backoff: .milliseconds(200)), allowLocalSources: allowLocal))
    }

    /// The runner leaves nothing behind in its work root.
    var workRootIsEmpty: Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: scratch.sub("work").path)) ?? []).isEmpty
    }
}

@Suite(.timeLimit(.minutes(5)))
struct BuildRunnerTests {
    @Test func buildsAnUploadedArchiveAndPushesEveryTag() async throws {
        try await BuildWorld.with { world in
            let url = try await world.serveArchive([
                "app/Dockerfile": """
                    FROM \(world.base)
                    LABEL quay.expires-after=2h
                    LABEL org.opencontainers.image.title="farm-test"
                    RUN echo "built at $(date)" > /built.txt && mkdir -p /app
                    RUN ["/bin/sh","-c","echo hello from the farm > /app/hello && cat /app/hello"]
                    COPY stamp /app/stamp

                    """,
                "app/stamp": "stamp-1\n",
            ])
            let events = EventCollector()
            let completion = await world.runner().run(world.pack(.upload(url: url), tags: ["v1", "latest"], contextPath: "/app")) {
                events.append($0)
            }
            #expect(completion.outcome == .complete, "\(completion.message ?? "") \(events.entries.map(\.message))")
            #expect(events.phases == ["unpacking", "pulling", "building", "pushing", "complete"])

            let commands = events.entries.filter { $0.type == "command" }
            #expect(commands.map { $0.data?["step"] } == ["1", "2", "3", "4", "5", "6"])
            #expect(commands.first?.message == "STEP 1/6: FROM \(world.base)")
            #expect(commands.last?.data?["command"] == "COPY stamp /app/stamp")
            #expect(world_sawOutput(events, "hello from the farm"))
            #expect(!events.entries.contains { $0.type == "error" })
            // The pulling phase names the base image; no secret ever reaches the log.
            let pulling = events.events.compactMap { if case .phase(let p) = $0, p.phase == .pulling { return p } else { return nil } }.first
            #expect(pulling?.data == ["base_image": "\(world.registry.address)/library/busybox", "base_image_tag": "latest",
                                      "registry_url": world.registry.address, "pull_username": "farm+puller"])
            #expect(!events.entries.contains { $0.message.contains("pull-secret") || $0.message.contains("push-secret") })

            #expect(Set(completion.manifestDigests.keys) == ["v1", "latest"])
            // One push of the image; the second tag is a manifest PUT of the same digest.
            let v1 = completion.manifestDigests["v1"] ?? "none"
            #expect(events.entries.contains { $0.message == "tagged latest as \(v1)" }, "\(events.entries.map(\.message).suffix(8))")
            #expect(completion.manifestDigests["latest"] == v1)
            for tag in ["v1", "latest"] {
                let (digest, labels) = try await world.registry.inspect("farm/app:\(tag)")
                #expect(digest == completion.manifestDigests[tag])
                #expect(labels["quay.expires-after"] == "2h")
                #expect(labels["org.opencontainers.image.title"] == "farm-test")
            }
            #expect(world.workRootIsEmpty)
        }
    }

    /// The container's output reached the log (not as an error). buildah's stdout and stderr
    /// share one pipe, so under load another writer's bytes can land on the same line: look for
    /// the text within a line, not for a line that is exactly it.
    private func world_sawOutput(_ events: EventCollector, _ text: String) -> Bool {
        events.entries.contains { $0.type != "error" && $0.message.contains(text) }
    }

    @Test func failingRunStepIsABuildError() async throws {
        try await BuildWorld.with { world in
            let url = try await world.serveArchive(["Dockerfile": "FROM \(world.base)\nRUN echo before\nRUN false\nRUN echo never\n"])
            let events = EventCollector()
            let completion = await world.runner().run(world.pack(.upload(url: url))) { events.append($0) }
            #expect(completion.outcome == .error)
            #expect(completion.message == "building at STEP \"RUN false\": exit status 1")
            #expect(events.phases == ["unpacking", "pulling", "building", "error"])
            let errors = events.entries.filter { $0.type == "error" }
            #expect(errors.contains { $0.message.contains("STEP \"RUN false\"") })
            #expect(!events.sawLine(containing: "RUN echo never"))
            #expect(completion.manifestDigests.isEmpty)
            #expect((try? await world.registry.inspect("farm/app:v1")) == nil)
            #expect(world.workRootIsEmpty)
        }
    }

    @Test func dockerfileSyntaxErrorIsABuildError() async throws {
        try await BuildWorld.with { world in
            // A bare Dockerfile upload (not an archive).
            try "FROM \(world.base)\nFOOBAR x\n".write(to: world.scratch.sub("www/Dockerfile"), atomically: true, encoding: .utf8)
            let events = EventCollector()
            let completion = await world.runner().run(world.pack(.upload(url: "http://127.0.0.1:\(world.filesPort)/Dockerfile"))) {
                events.append($0)
            }
            #expect(completion.outcome == .error)
            #expect(completion.message?.contains("Unknown instruction: \"FOOBAR\"") == true, "\(completion.message ?? "")")
            #expect(events.phases.last == "error")
            #expect(events.entries.contains { $0.type == "error" && $0.message.contains("FOOBAR") })
        }
    }

    @Test func sourceProblemsAreReportedBeforeBuilding() async throws {
        try await BuildWorld.with { world in
            let url = try await world.serveArchive(["sub/Dockerfile": "FROM \(world.base)\n"])
            let runner = world.runner()

            let escaping = await runner.run(world.pack(.upload(url: url), contextPath: "sub/..")) { _ in }
            #expect(escaping.outcome == .error)
            #expect(escaping.message?.contains("'..' is not allowed") == true)

            let missing = await runner.run(world.pack(.upload(url: url), contextPath: "sub", dockerfilePath: "Nope")) { _ in }
            #expect(missing.outcome == .error)
            #expect(missing.message?.contains("no Dockerfile at 'sub/Nope'") == true, "\(missing.message ?? "")")

            let events = EventCollector()
            let notFound = await runner.run(world.pack(.archiveURL(url: "http://127.0.0.1:\(world.filesPort)/missing.tgz"))) { events.append($0) }
            #expect(notFound.outcome == .error)
            #expect(notFound.message == "could not download the archive: the server answered HTTP 404")
            #expect(events.phases == ["unpacking", "error"])
            #expect(world.workRootIsEmpty)
        }
    }

    @Test func cancellingMidRunKillsTheBuilder() async throws {
        try await BuildWorld.with { world in
            let token = Int.random(in: 100_000...999_999)
            let url = try await world.serveArchive(["Dockerfile": "FROM \(world.base)\nRUN echo sleeping-now && sleep \(token)\n"])
            let events = EventCollector()
            let runner = world.runner(grace: .seconds(2))
            let pack = world.pack(.upload(url: url))
            let task = Task { await runner.run(pack) { events.append($0) } }
            try await waitFor("the RUN step to start") { events.sawLine(containing: "sleeping-now") && hasSleep(token) }
            let cancelled = ContinuousClock.now
            task.cancel()
            let completion = await task.value
            #expect(completion.outcome == .cancelled)
            #expect(events.phases.last == "cancelled")
            #expect(ContinuousClock.now - cancelled < .seconds(10))
            #expect(!hasSleep(token))
            #expect(world.workRootIsEmpty)
        }
    }

    /// The same at the process level, with the group checked directly.
    @Test func cancellingBuildahLeavesNoProcessOfItsGroup() async throws {
        try await BuildWorld.with { world in
            let token = Int.random(in: 100_000...999_999)
            let context = world.scratch.sub("ctx")
            try FileManager.default.createDirectory(at: context, withIntermediateDirectories: true)
            try "FROM \(world.base)\nRUN echo sleeping-now && sleep \(token)\n".write(to: context.appendingPathComponent("Dockerfile"),
                                                                                      atomically: true, encoding: .utf8)
            let environment = try ContainerEnvironment(root: world.scratch.sub("ct"))
            let invocation = BuilderInvocation.build(contextDirectory: context.path, dockerfile: context.path + "/Dockerfile",
                                                     tags: ["localhost/sleepy:1"], tlsVerify: false, environment: environment,
                                                     killGrace: .seconds(2))
            let lines = LineCollector()
            let groups = LineCollector()
            let task = Task { try await BuilderProcess.run(invocation) { lines.append($0) } }
            try await waitFor("the RUN step to start") { lines.contains("sleeping-now") && hasSleep(token) }
            // While it runs, the sleeping RUN process belongs to a group we can name.
            for row in processTable() where row.cmdline.hasPrefix("sleep \(token)") { groups.append(String(row.pgid)) }
            task.cancel()
            let result = try await task.value
            #expect(result.stoppedBy == .cancelled)
            #expect(BuilderProcess.liveMembers(ofGroup: result.processGroup).isEmpty)
            try await waitUntilGroupIsReaped(result.processGroup)
            #expect(!hasSleep(token))
            #expect(groups.all == [String(result.processGroup)], "the RUN step ran in the builder's group")
        }
    }

    @Test func buildsAGitCommitFromAGitDaemon() async throws {
        try await BuildWorld.with { world in
            try await GitFixture.with { git in
                try await git.commit(["Dockerfile": "FROM \(world.base)\nCOPY message.txt /message.txt\nRUN cat /message.txt\n",
                                "message.txt": "message from commit one\n"])
                let first = try await git.head()
                try await git.commit(["message.txt": "message from commit two\n"])
                #expect(try await git.head() != first)

                let events = EventCollector()
                let completion = await world.runner().run(world.pack(.git(url: git.daemonURL, commit: first, sshPrivateKey: nil),
                                                                     tags: ["git1"])) { events.append($0) }
                #expect(completion.outcome == .complete, "\(completion.message ?? "") \(events.entries.map(\.message))")
                #expect(events.phases == ["unpacking", "pulling", "building", "pushing", "complete"])
                #expect(events.entries.contains { $0.message == "message from commit one" })
                #expect(!events.sawLine(containing: "commit two"))
                #expect(completion.manifestDigests["git1"]?.hasPrefix("sha256:") == true)
                #expect(world.workRootIsEmpty)
            }
        }
    }
}

private func hasSleep(_ token: Int) -> Bool {
    processTable().contains { $0.cmdline.hasPrefix("sleep \(token)") }
}
