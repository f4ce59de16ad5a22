// Multi-architecture builds (#18), worker side: which platforms a worker reports (from a
// binfmt_misc directory laid out like the kernel's), the refusal of a platform it cannot run,
// `--platform` on the builder's command line, the per-platform tagging of log lines and phases,
// and the check of the pushed index. The end-to-end proof with buildah and qemu is
// Tests/e2e/test_multiarch_build.py.

import BuildProtocol
@testable import BuildWorker
import Foundation
import Testing

struct MultiPlatformBuildTests {
    /// A binfmt_misc directory: `status` and one file per entry, as the kernel shows them.
    private func binfmt(_ entries: [String: String], status: String = "enabled") throws -> Scratch {
        let scratch = try Scratch("binfmt")
        try (status + "\n").write(to: scratch.sub("status"), atomically: true, encoding: .utf8)
        try "".write(to: scratch.sub("register"), atomically: true, encoding: .utf8)
        for (name, text) in entries { try text.write(to: scratch.sub(name), atomically: true, encoding: .utf8) }
        return scratch
    }

    private static let aarch64 = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POF\noffset 0\nmagic 7f454c46\n"

    @Test func aWorkerReportsItsOwnPlatformAndEveryEnabledQemuEntry() throws {
        let directory = try binfmt([
            "qemu-aarch64": Self.aarch64,
            "qemu-arm": Self.aarch64.replacingOccurrences(of: "aarch64", with: "arm"),
            "qemu-s390x": "disabled\ninterpreter /usr/libexec/qemu-binfmt/s390x-binfmt-P\nflags: POF\n",
            "qemu-riscv64": "enabled\ninterpreter /usr/bin/qemu-riscv64-static\nflags: OC\n",  // no F: not inside a chroot
            "python3.11": "enabled\ninterpreter /usr/bin/python3.11\nflags: \n",
        ])
        let platforms = WorkerPlatforms.detect(binfmtDirectory: directory.path, machine: "x86_64")
        #expect(platforms.native?.description == "linux/amd64")
        #expect(platforms.emulated.map(\.description) == ["linux/arm64", "linux/arm/v7", "linux/arm/v6"])
        #expect(platforms.all == ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v6"])
        #expect(platforms.summary == "worker platforms: native linux/amd64; emulated linux/arm64 (qemu-aarch64), linux/arm/v7 (qemu-arm), linux/arm/v6 (qemu-arm)")
    }

    @Test func binfmtSwitchedOffOrMissingMeansNoEmulation() throws {
        let off = try binfmt(["qemu-aarch64": Self.aarch64], status: "disabled")
        #expect(WorkerPlatforms.detect(binfmtDirectory: off.path, machine: "x86_64").all == ["linux/amd64"])
        let missing = WorkerPlatforms.detect(binfmtDirectory: "/nonexistent/binfmt_misc", machine: "aarch64")
        #expect(missing.all == ["linux/arm64"] && missing.emulated.isEmpty)
        #expect(missing.summary.contains("install qemu-user-static"))
    }

    @Test func aBuildForAPlatformTheWorkerCannotRunFailsSayingWhatToInstall() async throws {
        let scratch = try Scratch("platform-refusal")
        let runner = BuildRunner(configuration: .init(workRoot: scratch.sub("work"),
                                                      platforms: WorkerPlatforms(native: BuildPlatform("linux/amd64"), emulated: [])))
        let pack = BuildPack(buildID: "b-multi", leaseID: "l", attempt: 1, source: .archiveURL(url: "http://127.0.0.1:9/never-fetched.tar"),
                             contextPath: "", dockerfilePath: "Dockerfile", registry: "127.0.0.1:5000", repository: "ns/app", tags: ["v1"],
                             pushCredentials: RegistryCredentials(username: "$token", password: "p"), pullCredentials: nil, tlsVerify: false,
                             timeoutSeconds: 60, heartbeatIntervalSeconds: 5, platforms: ["linux/amd64", "linux/arm64"])
        let events = EventCollector()
        let completion = await runner.run(pack) { events.append($0) }
        #expect(completion.outcome == .error)
        let message = try #require(completion.message)
        #expect(message.hasPrefix("[linux/arm64] this worker (linux/amd64) cannot run linux/arm64 binaries"))
        #expect(message.contains("install qemu-user-static") && message.contains("qemu-aarch64"))
        #expect(events.phases == ["error"], "refused before unpacking anything")
        #expect(events.sawLine(containing: "install qemu-user-static"))
    }

    @Test func eachPlatformIsBuiltWithPlatformAndItsLinesAndPhasesNameIt() throws {
        let scratch = try Scratch("platform-invocation")
        let environment = try ContainerEnvironment(root: scratch.sub("ct"))
        let invocation = BuilderInvocation.build(contextDirectory: "/ctx", dockerfile: "/ctx/Dockerfile", tags: ["localhost/x:latest"],
                                                 tlsVerify: false, platform: "linux/arm/v7", environment: environment)
        let at = try #require(invocation.arguments.firstIndex(of: "--platform"))
        #expect(invocation.arguments[at + 1] == "linux/arm/v7")
        let single = BuilderInvocation.build(contextDirectory: "/ctx", dockerfile: "/ctx/Dockerfile", tags: ["r/a:v1"], tlsVerify: false,
                                             environment: environment)
        #expect(!single.arguments.contains("--platform"), "a build without platforms keeps its command line")

        let events = EventCollector()
        let tagged = BuildRunner.tagging({ events.append($0) }, with: try #require(BuildPlatform("linux/arm64")))
        tagged(.log(BuildLogEntry(message: "STEP 2/2: RUN uname -m", type: "command")))
        tagged(.phase(PhaseUpdate(phase: .building)))
        #expect(events.entries.map(\.message) == ["[linux/arm64] STEP 2/2: RUN uname -m"])
        #expect(events.events.last == .phase(PhaseUpdate(phase: .building, data: ["platform": "linux/arm64"])))
        let failed = BuildRunner.naming(Completion(outcome: .error, message: "step failed"), try #require(BuildPlatform("linux/arm64")))
        #expect(failed.message == "[linux/arm64] step failed")
    }

    // MARK: The pushed index

    static func index(_ children: [(arch: String, variant: String?, mediaType: String)], mediaType: String? = ImageIndex.mediaType) -> Data {
        var manifests: [[String: Any]] = []
        for (i, child) in children.enumerated() {
            var platform: [String: Any] = ["os": "linux", "architecture": child.arch]
            if let variant = child.variant { platform["variant"] = variant }
            manifests.append(["mediaType": child.mediaType, "digest": "sha256:" + String(repeating: "\(i)", count: 64), "size": 700 + i,
                              "platform": platform])
        }
        var object: [String: Any] = ["schemaVersion": 2, "manifests": manifests]
        if let mediaType { object["mediaType"] = mediaType }
        return try! JSONSerialization.data(withJSONObject: object)
    }

    static let oci = "application/vnd.oci.image.manifest.v1+json"
    static let amd64AndArm64 = [BuildPlatform("linux/amd64")!, BuildPlatform("linux/arm64")!]

    @Test func anIndexWithAChildPerPlatformIsAccepted() throws {
        // buildah's OCI index: arm64 may carry the variant v8.
        let body = Self.index([("amd64", nil, Self.oci), ("arm64", "v8", Self.oci)])
        let index = try ImageIndex.verified(body, contentType: ImageIndex.mediaType, platforms: Self.amd64AndArm64)
        #expect(index.manifests.map { $0.platform?.name } == ["linux/amd64", "linux/arm64"])
        #expect(index.manifests.map(\.size) == [700, 701])
        let armV7 = Self.index([("arm", "v7", Self.oci)])
        #expect(try ImageIndex.verified(armV7, contentType: ImageIndex.mediaType, platforms: [BuildPlatform("linux/arm/v7")!]).manifests.count == 1)
    }

    @Test(arguments: [
        ("a missing platform", MultiPlatformBuildTests.index([("amd64", nil, MultiPlatformBuildTests.oci)]), ImageIndex.mediaType, "holds linux/amd64, not linux/amd64, linux/arm64"),
        ("an extra platform", MultiPlatformBuildTests.index([("amd64", nil, MultiPlatformBuildTests.oci), ("arm64", nil, MultiPlatformBuildTests.oci), ("s390x", nil, MultiPlatformBuildTests.oci)]), ImageIndex.mediaType, "holds"),
        ("a Docker list", MultiPlatformBuildTests.index([("amd64", nil, MultiPlatformBuildTests.oci), ("arm64", nil, MultiPlatformBuildTests.oci)], mediaType: nil),
         "application/vnd.docker.distribution.manifest.list.v2+json", "not application/vnd.oci.image.index.v1+json"),
        ("a nested index", MultiPlatformBuildTests.index([("amd64", nil, MultiPlatformBuildTests.oci), ("arm64", nil, ImageIndex.mediaType)]), ImageIndex.mediaType, "not an image manifest"),
        ("not JSON", Data("{".utf8), ImageIndex.mediaType, "not an OCI image index"),
    ])
    func anIndexThatIsNotWhatTheBuildPromisedIsRefused(what: String, body: Data, contentType: String, words: String) {
        #expect {
            _ = try ImageIndex.verified(body, contentType: contentType, platforms: Self.amd64AndArm64)
        } throws: { error in
            "\(error)".contains(words)
        }
    }

    @Test func aChildWithoutAPlatformIsRefused() throws {
        let body = Data(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":1}]}"#.utf8)
        #expect(throws: ImageIndex.Mismatch.self) {
            _ = try ImageIndex.verified(body, contentType: ImageIndex.mediaType, platforms: [BuildPlatform("linux/amd64")!])
        }
    }
}
