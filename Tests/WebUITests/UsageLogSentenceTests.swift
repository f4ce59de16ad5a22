import Accounts
import Audit
import Foundation
@testable import Registry
import Testing
@testable import WebUI

/// Usage-log entries read as one sentence per kind, as Quay's UI writes them: every kind Slipway
/// records has one (with the values its writer records in it), JSON-valued metadata is decoded,
/// and a kind without a sentence still reads as words, never as `key=value` pairs.
@Suite("Web UI: usage-log sentences")
struct UsageLogSentenceTests {
    static func entry(_ kind: String, _ metadata: [String: String], namespace: String? = "acme", repository: String? = nil,
                      performer: String? = "alice") -> UsageLogEntry {
        UsageLogEntry(id: 1, kind: kind, performerName: performer, performerKind: performer == nil ? nil : "user",
                      namespaceName: namespace, repositoryName: repository, ip: "192.0.2.7", metadata: metadata, createdAt: 0)
    }

    /// What the writers outside `APIAuditKinds` record (repository, tag, label, build, trigger,
    /// notification, sign-in and export kinds), with the metadata keys they use.
    static let recordedKinds: [(String, [String: String], String)] = [
        ("create_repo", [:], "Create Repository acme/app"),
        ("delete_repo", [:], "Delete repository acme/app"),
        ("set_repo_description", [:], "Change description for repository acme/app"),
        ("change_repo_visibility", ["visibility": "public"], "Change visibility for repository acme/app to public"),
        ("change_repo_state", ["state": "read_only"], "Repository state of acme/app changed to READ_ONLY"),
        ("push_repo", ["tag": "v1", "manifest_digest": "sha256:aa"], "Push of v1 to repository acme/app"),
        ("pull_repo", ["tag": "v1"], "Pull of tag v1 from repository acme/app"),
        ("pull_repo", ["manifest_digest": "sha256:aa"], "Pull of digest sha256:aa from repository acme/app"),
        ("create_tag", ["tag": "v2", "manifest_digest": "sha256:aa"], "Tag v2 created in repository acme/app on sha256:aa"),
        ("move_tag", ["tag": "v2", "manifest_digest": "sha256:bb"], "Tag v2 moved to sha256:bb in repository acme/app"),
        ("delete_tag", ["tag": "v2"], "Tag v2 deleted in repository acme/app"),
        ("revert_tag", ["tag": "v2", "manifest_digest": "sha256:aa"], "Tag v2 restored to sha256:aa in repository acme/app"),
        ("change_tag_expiration", ["tag": "v2", "expiration_date": "4102444800"], "Tag v2 set to expire on 2100-01-01 00:00 UTC"),
        ("change_tag_expiration", ["tag": "v2", "expiration_date": "none"], "Tag v2 set to no longer expire"),
        ("manifest_label_add", ["label.key": "k", "label.value": "v", "manifest_digest": "sha256:aa"],
         "Label k added to manifest sha256:aa under repository acme/app"),
        ("manifest_label_delete", ["label.key": "k", "manifest_digest": "sha256:aa"], "Label k deleted from manifest sha256:aa under repository acme/app"),
        ("build_dockerfile", ["build_uuid": "b-1"], "Build from Dockerfile for repository acme/app"),
        ("cancel_build", ["build_uuid": "b-1"], "Cancel build b-1"),
        ("create_repo_trigger", ["trigger_id": "t-1", "service": "custom-git"], "Created build trigger custom-git for acme/app"),
        ("toggle_repo_trigger", ["trigger_id": "t-1", "service": "custom-git", "enabled": "false"], "Build trigger disabled - custom-git trigger"),
        ("delete_repo_trigger", ["trigger_id": "t-1", "service": "github"], "Delete build trigger - github trigger"),
        ("add_repo_notification", ["notification_id": "n", "event": "repo_push", "method": "webhook"],
         #"Add notification of event "Push to Repository" for repository acme/app"#),
        ("delete_repo_notification", ["notification_id": "n", "event": "build_failure", "method": "email"],
         #"Delete notification of event "Image build failed" for repository acme/app"#),
        ("reset_repo_notification", ["notification_id": "n", "event": "build_success", "method": "slack"],
         #"Re-enable notification of event "Image build success" for repository acme/app"#),
        ("login_success", ["type": "quayauth", "kind": "user"], "Login to Slipway"),
        ("login_success", ["type": "v2auth", "kind": "user", "useragent": "podman/4.3.1"], "Login to registry with user-agent podman/4.3.1"),
        ("login_failure", ["type": "v2auth", "kind": "user", "username": "bob", "message": "Invalid Username or Password"],
         "Login to registry failed with user bob with message: Invalid Username or Password"),
        ("login_failure", ["type": "quayauth", "kind": "user", "username": "bob", "message": "Invalid Username or Password"],
         "Login to Slipway failed with username bob with message: Invalid Username or Password"),
        ("login_success", ["type": "oidc", "kind": "user", "service": "keycloak"], "Login to Slipway through keycloak"),
        ("login_failure", ["type": "oidc", "kind": "user", "username": "", "message": "keycloak's ID token was refused: the ID token has expired"],
         "Login to Slipway through single sign-on failed with message: keycloak's ID token was refused: the ID token has expired"),
        ("attach_external_login", ["service": "keycloak", "issuer": "https://sso.example.com/realms/dev", "subject": "u-1"],
         "Linked a sign-in through keycloak (subject u-1)"),
        ("export_logs_success", ["export_id": "e-1", "email": "admin@example.com"],
         "Logs export queued for delivery: id e-1, email: ad***@example.com, repository: acme/app"),
    ]

    @Test(arguments: recordedKinds.indices)
    func recordedKindsReadAsQuaysSentences(_ index: Int) {
        let (kind, metadata, expected) = Self.recordedKinds[index]
        var withRepo = metadata
        withRepo["namespace"] = "acme"
        withRepo["repo"] = "app"
        let sentence = UsageLogSentence(Self.entry(kind, withRepo, repository: "app"))
        #expect(sentence.knownSentence != nil, "\(kind) has no sentence")
        #expect(sentence.text == expected)
    }

    /// The account actions `APIAuditKinds` records carry the route's path parameters: each kind
    /// has a sentence, and the sentence names every recorded value.
    @Test func everyRouteRecordedKindHasASentenceNamingItsParameters() throws {
        let parameter = try Regex(#"\{([a-z_]+)\}"#)
        for (route, kind) in APIAuditKinds.table {
            var metadata: [String: String] = [:]
            for match in route.matches(of: parameter) {
                let name = String(route[match.range].dropFirst().dropLast())
                guard name != "repository", !APIAuditKinds.secretParameters.contains(name) else { continue }
                metadata[name] = "value-of-\(name)"
            }
            let onRepository = route.contains("{repository}")
            if onRepository {
                metadata["namespace"] = "acme"
                metadata["repo"] = "app"
            }
            let sentence = UsageLogSentence(Self.entry(kind.rawValue, metadata, repository: onRepository ? "app" : nil))
            let text = try #require(sentence.knownSentence, "\(kind) (\(route)) has no sentence")
            for (name, value) in metadata where value.hasPrefix("value-of-") {
                #expect(text.contains(value), "\(kind) (\(route)): \"\(text)\" does not name \(name)")
            }
            #expect(!text.contains("="), "\(kind): \(text)")
        }
    }

    @Test func robotsAreNamedInFull() {
        let org = UsageLogSentence(Self.entry("create_robot", ["orgname": "acme", "robot_shortname": "deployer"]))
        #expect(org.text == "Create Robot Account acme+deployer")
        let user = UsageLogSentence(Self.entry("delete_robot", ["robot_shortname": "ci"], namespace: "alice"))
        #expect(user.text == "Delete Robot Account alice+ci")
    }

    /// A trigger's config and a build's trigger metadata are JSON documents stored as strings:
    /// their URLs read as URLs (JSONEncoder writes `git:\/\/`).
    @Test func jsonValuedMetadataIsDecoded() throws {
        let config = String(decoding: try JSONEncoder().encode(["build_source": "git://git.example.com/acme/app.git", "context": "/"]), as: UTF8.self)
        #expect(config.contains(#"git:\/\/"#))
        let setup = UsageLogSentence(Self.entry("setup_repo_trigger", ["trigger_id": "t-1", "service": "custom-git", "config": config,
                                                                     "namespace": "acme", "repo": "app"], repository: "app"))
        #expect(setup.text == "Setup build trigger - push to repository git://git.example.com/acme/app.git")

        let metadata = String(decoding: try JSONEncoder().encode(["git_url": "git@github.com:acme/app.git", "commit": "0123abc"]), as: UTF8.self)
        let build = UsageLogSentence(Self.entry("build_dockerfile", [
            "build_uuid": "b-1", "trigger_id": "t-1", "trigger_kind": "github", "trigger_metadata": metadata, "trigger_manual": "false",
            "namespace": "acme", "repo": "app",
        ], repository: "app"))
        #expect(build.text == "Build from Dockerfile for repository acme/app triggered by push to GitHub git@github.com:acme/app.git")

        let manual = UsageLogSentence(Self.entry("build_dockerfile", [
            "build_uuid": "b-2", "trigger_id": "t-1", "trigger_kind": "custom-git", "trigger_metadata": metadata, "trigger_manual": "true",
            "manual_user": "alice", "namespace": "acme", "repo": "app",
        ], repository: "app"))
        #expect(manual.text == "Build from Dockerfile for repository acme/app started manually by alice from trigger - push to repository git@github.com:acme/app.git")

        // A trigger that names only its UUID gets its source from the trigger itself.
        let toggled = UsageLogSentence(Self.entry("toggle_repo_trigger", ["trigger_id": "t-1", "service": "custom-git", "enabled": "true"]),
                                       triggerSources: ["t-1": "ssh://git@example.com/app.git"])
        #expect(toggled.text == "Build trigger enabled - push to repository ssh://git@example.com/app.git")
    }

    @Test func anonymousPullsSayPublicAndByWhichAddress() {
        let sentence = UsageLogSentence(Self.entry("pull_repo", ["tag": "v1", "namespace": "acme", "repo": "app"], repository: "app", performer: nil))
        #expect(sentence.text == "Public pull of tag v1 from repository acme/app by 192.0.2.7")
    }

    @Test func aKindWithoutASentenceReadsAsWordsNotKeyValuePairs() {
        let sentence = UsageLogSentence(Self.entry("some_new_kind", ["secret_detail": "x", "namespace": "acme", "repo": "app"], repository: "app"))
        #expect(sentence.knownSentence == nil)
        #expect(sentence.text == "Some new kind in repository acme/app")
        #expect(UsageLogKinds.title("push_repo") == "Push to repository")
    }
}
