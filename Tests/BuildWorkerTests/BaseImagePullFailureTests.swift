@testable import BuildWorker
import Testing

/// Issue #16 item 11: buildah's refusal to pull a private base image becomes a message that
/// names the remedy. The lines are buildah 1.28's own output (captured against a registry that
/// wants credentials; see the e2e test for Slipway's answer).
@Suite struct BaseImagePullFailureTests {
    static let registry = "127.0.0.1:41565"
    /// `buildah bud` with `FROM 127.0.0.1:41565/alice/base:latest` and no credentials.
    static let anonymous = "creating build container: initializing source docker://127.0.0.1:41565/alice/base:latest: "
        + "reading manifest latest in 127.0.0.1:41565/alice/base: unauthorized: authentication required"

    @Test func aPrivateBaseImageOnThisRegistryAsksForAPullRobot() throws {
        let remedy = try #require(BaseImagePullFailure.remedy(for: Self.anonymous, registry: Self.registry, repository: "alice/app", pullRobot: nil))
        #expect(remedy.hasPrefix("the base image 127.0.0.1:41565/alice/base:latest is private "
                                 + "(the registry answered: unauthorized: authentication required): give the build a pull robot with read access"),
                "\(remedy)")
        #expect(remedy.contains("PUT /api/v1/repository/alice/base/permissions/user/alice+<name>"), "\(remedy)")
        #expect(remedy.contains("PUT /api/v1/repository/alice/app/trigger/<uuid>") && remedy.contains("examples/TRIGGERS.md"), "\(remedy)")
    }

    @Test func aPullRobotWithoutReadAccessIsNamed() throws {
        let denied = "creating build container: initializing source docker://127.0.0.1:41565/alice/base:latest: "
            + "reading manifest latest in 127.0.0.1:41565/alice/base: denied: requested access to the resource is denied"
        let remedy = try #require(BaseImagePullFailure.remedy(for: denied, registry: Self.registry, repository: "alice/app", pullRobot: "alice+builder"))
        #expect(remedy.hasPrefix("the pull robot alice+builder cannot read the base image 127.0.0.1:41565/alice/base:latest"), "\(remedy)")
        #expect(remedy.contains("PUT /api/v1/repository/alice/base/permissions/user/alice+builder"), "\(remedy)")
    }

    @Test func aBaseImageOnAnotherRegistryIsNotSentToAPullRobot() throws {
        let other = "creating build container: initializing source docker://quay.example.com/team/base:1: "
            + "reading manifest 1 in quay.example.com/team/base: unauthorized: authentication required"
        let remedy = try #require(BaseImagePullFailure.remedy(for: other, registry: Self.registry, repository: "alice/app", pullRobot: nil))
        #expect(remedy.contains("quay.example.com/team/base:1 needs registry credentials") && remedy.contains("this registry only"), "\(remedy)")
    }

    @Test(arguments: [
        // Not about credentials, or not a base-image pull.
        "creating build container: initializing source docker://127.0.0.1:41565/alice/base:latest: reading manifest latest in "
            + "127.0.0.1:41565/alice/base: manifest unknown",
        "building at STEP \"RUN make\": while running runtime: exit status 2",
        "pushing image \"127.0.0.1:41565/alice/app:latest\": writing manifest: unauthorized: authentication required",
    ])
    func otherFailuresAreLeftAlone(_ line: String) {
        #expect(BaseImagePullFailure.remedy(for: line, registry: Self.registry, repository: "alice/app", pullRobot: nil) == nil, "\(line)")
    }

    @Test func theTranslatorHandsTheRunnerTheLineWithoutItsPrefix() {
        #expect(BuildLogTranslator.classify("Error: " + Self.anonymous) == .error(message: Self.anonymous))
    }

    /// A token without pull scope (a robot whose read access was revoked) gets the registry's
    /// answers as a list on the lines after "errors:"; the first joins the error line.
    @Test func aRegistryErrorListGivesItsFirstAnswerToTheMessage() {
        let last = LastErrorLine()
        last.set("creating build container: initializing source docker://\(Self.registry)/alice/base:latest: "
            + "reading manifest latest in \(Self.registry)/alice/base: errors:")
        last.continueList(with: "denied: requested access to the resource is denied: you may not read alice/base")
        last.continueList(with: "denied: requested access to the resource is denied: you may not read alice/base")
        #expect(last.value?.hasSuffix("errors: denied: requested access to the resource is denied: you may not read alice/base") == true)
        let remedy = BaseImagePullFailure.remedy(for: last.value!, registry: Self.registry, repository: "alice/app", pullRobot: "alice+puller")
        #expect(remedy?.hasPrefix("the pull robot alice+puller cannot read the base image \(Self.registry)/alice/base:latest") == true)
        // An error line that does not end a list is left alone.
        let plain = LastErrorLine()
        plain.set(Self.anonymous)
        plain.continueList(with: "something else")
        #expect(plain.value == Self.anonymous)
    }
}
