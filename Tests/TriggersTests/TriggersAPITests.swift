import Accounts
import BuildOrchestrator
import Foundation
import HTTPTypes
import Registry
import SlipwayTestSupport
import Testing
@testable import Triggers
import SlipwayCore

/// The trigger API (§1.5): create, activate with credentials, list, get, toggle, delete,
/// analyze, manual runs, and what the build farm asks about trigger builds.
@Suite("Trigger API")
struct TriggersAPITests {
    typealias H = TriggerHarness

    @Test(arguments: TestBackend.available)
    func createActivateToggleDelete(backend: TestBackend) async throws {
        try await H.run(backend) { h in
            let uuid = try await h.create()
            var (status, view) = try await h.api(.get, "\(H.base)/\(uuid)")
            #expect(status == 200)
            #expect(view["is_active"] as? Bool == false)
            #expect(view["service"] as? String == "custom-git")
            #expect(view["connected_user"] as? String == "admin")
            #expect(H.credentials(view).isEmpty)
            #expect(try await h.api(.put, "\(H.base)/\(uuid)", ["enabled": false]).0 == 400, "an inactive trigger cannot be toggled")

            // A config that does not validate activates nothing.
            for (config, fragment) in [([String: Any](), "build_source is required"),
                                       (["build_source": "file:///srv/app.git"], "local file URL"),
                                       (["build_source": H.source, "branchtag_regex": "heads/(x"], "not a valid regular expression"),
                                       (["build_source": H.source, "dockerfile_path": "/../Dockerfile"], "'..'"),
                                       (["build_source": H.source, "tag_templates": "latest"], "array of strings")] {
                let (s, body) = try await h.api(.post, "\(H.base)/\(uuid)/activate", ["config": config])
                #expect(s == 400 && (body["error_message"] as? String)?.contains(fragment) == true, "\(config): \(body)")
            }
            #expect(try await h.trigger(uuid).isActive == false)

            (status, view) = try await h.api(.post, "\(H.base)/\(uuid)/activate", [
                "config": ["build_source": H.source, "dockerfile_path": "/docker/Dockerfile", "context": "/",
                           "branchtag_regex": "heads/.+", "tag_templates": ["${commit_info.short_sha}"], "default_tag_from_ref": true,
                           "latest_for_default_branch": false]])
            #expect(status == 200, "\(view)")
            #expect(view["is_active"] as? Bool == true)
            #expect(view["enabled"] as? Bool == true)
            #expect(view["build_source"] as? String == H.source)
            let config = try #require(view["config"] as? [String: Any])
            #expect(config["tag_templates"] as? [String] == ["${commit_info.short_sha}"])
            #expect(config["latest_for_default_branch"] as? Bool == false)
            let creds = H.credentials(view)
            #expect(creds["SSH Public Key"]?.hasPrefix("ssh-ed25519 ") == true)
            let url = try #require(creds["Webhook Endpoint URL"])
            #expect(url.contains("://$token:") && url.hasSuffix("/webhooks/push/trigger/\(uuid)"), "\(url)")
            let secret = try #require(H.secret(fromView: view))
            #expect(secret.count >= 40)

            // Secrets are sealed at rest.
            let stored = try await h.trigger(uuid)
            #expect(stored.privateKeySealed?.hasPrefix("v1.") == true && stored.privateKeySealed?.contains("PRIVATE KEY") == false)
            #expect(stored.urlSecretSealed?.contains(secret) == false)
            // What the farm asks the triggers module: the deploy key at lease time, a short view for build views.
            let key = try await h.registry.buildFarm.sources.deployKey(triggerID: stored.id)
            #expect(key?.hasPrefix("-----BEGIN OPENSSH PRIVATE KEY-----") == true)
            let summary = try #require(try await h.registry.buildFarm.sources.triggerSummary(triggerID: stored.id))
            #expect(summary["id"] == .string(uuid))
            #expect(summary["config"]?["credentials"] == nil)
            #expect(summary["config"]?["build_source"] == .string(H.source))

            #expect(try await h.api(.post, "\(H.base)/\(uuid)/activate", ["config": ["build_source": H.source]]).0 == 400, "already active")

            (status, view) = try await h.api(.put, "\(H.base)/\(uuid)", ["enabled": false])
            #expect(status == 200 && view["enabled"] as? Bool == false && view["disabled_reason"] as? String == "user_toggled")
            (status, view) = try await h.api(.put, "\(H.base)/\(uuid)", ["enabled": true])
            #expect(status == 200 && view["enabled"] as? Bool == true && view["disabled_reason"] is NSNull)

            let second = try await h.create("github")
            (status, view) = try await h.api(.get, H.base + "/")
            let ids = (view["triggers"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
            #expect(ids == [uuid, second])

            #expect(try await h.api(.delete, "\(H.base)/\(uuid)").0 == 204)
            #expect(try await h.api(.get, "\(H.base)/\(uuid)").0 == 404)
            #expect(try await h.registry.buildFarm.sources.deployKey(triggerID: stored.id) == nil)
            #expect(try await h.api(.post, H.base + "/", ["service": "svn"]).0 == 400)
            #expect(try await h.api(.get, "\(H.base)/00000000-0000-0000-0000-000000000000").0 == 404)

            await h.registry.services.auditLog.flush()
            let logs = try await h.registry.services.auditStore.usageLogs(scope: .repository(h.repo.id), start: 0, end: Int64.max, performer: nil,
                                                                      before: nil, limit: 50)
            let kinds = Set(logs.map(\.kind))
            #expect(kinds.isSuperset(of: ["create_repo_trigger", "setup_repo_trigger", "toggle_repo_trigger", "delete_repo_trigger"]), "\(kinds)")
        }
    }

    @Test(arguments: TestBackend.available)
    func pullRobotAndTriggersOfOtherRepositories(backend: TestBackend) async throws {
        try await H.run(backend) { h in
            #expect(try await h.api(.put, "/api/v1/user/robots/builder", ["description": "pulls bases"]).0 == 201)
            let uuid = try await h.create()
            var (status, body) = try await h.api(.post, "\(H.base)/\(uuid)/activate",
                                                 ["config": ["build_source": H.source], "pull_robot": "someone+else"])
            #expect(status == 404, "\(body)")
            (status, body) = try await h.api(.post, "\(H.base)/\(uuid)/activate", ["config": ["build_source": H.source], "pull_robot": "admin+builder"])
            #expect(status == 200)
            #expect((body["pull_robot"] as? [String: Any])?["name"] as? String == "admin+builder")

            // The same uuid under another repository is not found.
            let accounts = h.registry.services.accounts
            _ = try await accounts.createRepository(namespaceID: h.repo.namespaceID, name: "other", visibility: .private)
            #expect(try await h.api(.get, "/api/v1/repository/admin/other/trigger/\(uuid)").0 == 404)

            (status, body) = try await h.api(.post, "\(H.base)/\(uuid)/analyze", ["config": ["build_source": H.source]])
            #expect(status == 200 && body["status"] as? String == "notimplemented")
            #expect((body["robots"] as? [[String: Any]])?.first?["name"] as? String == "admin+builder")
            (status, body) = try await h.api(.post, "\(H.base)/\(uuid)/analyze", ["config": ["build_source": "/srv/x"]])
            #expect(status == 200 && body["status"] as? String == "error", "\(body)")
        }
    }

    @Test(arguments: TestBackend.available)
    func manualRuns(backend: TestBackend) async throws {
        try await GitServers.with { git in
            try await H.run(backend) { h in
                #expect(try await h.api(.put, "/api/v1/user/robots/builder", ["description": ""]).0 == 201)
                let (uuid, _) = try await h.activated(config: ["build_source": git.daemonURL, "tag_templates": ["c-${commit_info.short_sha}"],
                                                               "default_branch": "main"], pullRobot: "admin+builder")
                let sha = PayloadFixtures.sha
                var (status, view) = try await h.api(.post, "\(H.base)/\(uuid)/start", ["commit_sha": sha])
                #expect(status == 201, "\(view)")
                #expect(view["tags"] as? [String] == ["c-1c002dd"])
                #expect(view["display_name"] as? String == "1c002dd")
                #expect((view["trigger"] as? [String: Any])?["id"] as? String == uuid)
                let first = try await h.build(view["id"])
                #expect(first.sourceKind == "git" && first.gitURL == git.daemonURL && first.commitSHA == sha)
                #expect(first.manualUserID != nil)
                #expect(first.pullRobotID != nil)
                #expect(first.dockerfilePath == "Dockerfile" && first.context == "")

                // A run by branch builds the commit the branch names now, tagged by the trigger's rules.
                let main = try await git.commit("refs/heads/main")
                (status, view) = try await h.api(.post, "\(H.base)/\(uuid)/start", ["refs": ["kind": "branch", "name": "main"]])
                #expect(status == 201, "\(view)")
                #expect(view["tags"] as? [String] == ["c-\(main.prefix(7))", "main", "latest"])
                let byRef = try await h.build(view["id"])
                #expect(byRef.commitSHA == main, "the server resolved the branch to its commit")
                let meta = try #require(byRef.triggerMetadata.flatMap(EventValue.parse))
                #expect(meta["ref"] == .string("refs/heads/main") && meta["commit"] == .string(main) && meta["git_url"] == .string(git.daemonURL))

                let v1 = try await git.commit("refs/tags/v1")
                (status, view) = try await h.api(.post, "\(H.base)/\(uuid)/start", ["refs": ["kind": "tag", "name": "v1"]])
                #expect(status == 201 && view["tags"] as? [String] == ["c-\(v1.prefix(7))", "v1"], "\(view)")
                #expect(try await h.build(view["id"]).commitSHA == v1, "an annotated tag is peeled to its commit")
                let dev = try await git.commit("refs/heads/dev")
                (status, view) = try await h.api(.post, "\(H.base)/\(uuid)/start", ["branch_name": "dev"])
                #expect(status == 201 && view["tags"] as? [String] == ["c-\(dev.prefix(7))", "dev"], "\(view)")

                for (body, fragment) in [([String: Any](), "missing required parameter"), (["commit_sha": "xyz"], "commit_sha"),
                                         (["refs": ["kind": "note", "name": "x"]], "refs.kind"), (["branch_name": "a..b"], "not a valid"),
                                         (["commit_sha": sha, "force": true], "unknown parameter"),
                                         (["branch_name": "nope"], "branch 'nope' does not exist in \(git.daemonURL)")] {
                    let (s, b) = try await h.api(.post, "\(H.base)/\(uuid)/start", body)
                    #expect(s == 400 && (b["error_message"] as? String)?.contains(fragment) == true, "\(body): \(b)")
                }
                #expect(try await h.builds().count == 4)

                (status, view) = try await h.api(.get, "\(H.base)/\(uuid)/builds?limit=2")
                #expect((view["builds"] as? [[String: Any]])?.count == 2)
                #expect(try await h.activity(uuid).first?["source"] as? String == "manual")

                // A git server the API server cannot reach: the run says so and how to start it anyway.
                let (unreachable, _) = try await h.activated(config: ["build_source": "git://127.0.0.1:\(GitServers.freePort())/repo.git"])
                (status, view) = try await h.api(.post, "\(H.base)/\(unreachable)/start", ["branch_name": "main"])
                #expect(status == 400 && (view["error_message"] as? String)?.contains("start the run with commit_sha instead") == true, "\(view)")

                _ = try await h.api(.put, "\(H.base)/\(uuid)", ["enabled": false])
                (status, view) = try await h.api(.post, "\(H.base)/\(uuid)/start", ["commit_sha": sha])
                #expect(status == 400 && view["error_message"] as? String == "Trigger is not enabled.")
                let inactive = try await h.create()
                (status, view) = try await h.api(.post, "\(H.base)/\(inactive)/start", ["commit_sha": sha])
                #expect(status == 400 && view["error_message"] as? String == "Trigger is not active.")
                #expect(try await h.builds().count == 4)
            }
        }
    }

    /// Issue #16 item 3: with `default_tag_from_ref` and `latest_for_default_branch` off and a
    /// short-SHA template, a run by branch and the webhook for that push give the same tags.
    @Test(arguments: TestBackend.available)
    func aRunByBranchIsTaggedLikeTheWebhookOfThatPush(backend: TestBackend) async throws {
        try await GitServers.with { git in
            try await H.run(backend) { h in
                let main = try await git.commit("refs/heads/main")
                let (uuid, secret) = try await h.activated(config: [
                    "build_source": git.daemonURL, "default_tag_from_ref": false, "latest_for_default_branch": false,
                    "tag_templates": ["ssh-${commit_info.short_sha}"],
                ])
                let payload = #"{"commit": "\#(main)", "ref": "refs/heads/main", "default_branch": "main"}"#
                let (hook, answer) = try await h.webhook(uuid, secret: secret, payload)
                #expect(hook == 200, "\(answer)")
                let expected = ["ssh-\(main.prefix(7))"]
                #expect(answer["tags"] as? [String] == expected)
                let (status, view) = try await h.api(.post, "\(H.base)/\(uuid)/start", ["refs": ["kind": "branch", "name": "main"]])
                #expect(status == 201 && view["tags"] as? [String] == expected, "\(view)")

                // The defaults too: `latest` follows the server's default branch when the trigger names none.
                let (plain, plainSecret) = try await h.activated(config: ["build_source": git.daemonURL])
                let (_, plainAnswer) = try await h.webhook(plain, secret: plainSecret, payload)
                let (_, plainRun) = try await h.api(.post, "\(H.base)/\(plain)/start", ["refs": ["kind": "branch", "name": "main"]])
                #expect(plainAnswer["tags"] as? [String] == ["main", "latest"])
                #expect(plainRun["tags"] as? [String] == ["main", "latest"], "\(plainRun)")
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func successiveInternalErrorsDisableTheTrigger(backend: TestBackend) async throws {
        try await H.run(backend) { h in
            let (uuid, secret) = try await h.activated()
            let t = try await h.trigger(uuid)
            for phase in ["complete", "internalerror", "internalerror", "internalerror", "internalerror", "internalerror"] {
                var record = BuildRecord(repository: h.repo, sourceKind: "git", gitURL: H.source, commitSHA: PayloadFixtures.sha,
                                         dockerfilePath: "Dockerfile", context: "", tags: ["x"], displayName: "x", manualUserID: nil)
                record.triggerID = t.id
                let stored = try await h.registry.buildFarm.store.insertBuild(record)
                try await h.registry.buildFarm.store.finishBuild(uuid: stored.uuid, phase: .init(rawValue: phase)!, error: nil, manifestDigests: [:])
                try await Task.sleep(for: .milliseconds(2))
            }
            var (status, view) = try await h.api(.get, "\(H.base)/\(uuid)")
            #expect(view["enabled"] as? Bool == false)
            #expect(view["disabled_reason"] as? String == "successive_build_internal_errors")
            let (hook, answer) = try await h.webhook(uuid, secret: secret, PayloadFixtures.custom)
            #expect(hook == 400 && (answer["error_message"] as? String)?.contains("disabled") == true)
            // Re-enabling starts the count afresh.
            (status, view) = try await h.api(.put, "\(H.base)/\(uuid)", ["enabled": true])
            #expect(status == 200 && view["enabled"] as? Bool == true && view["successive_internal_error_count"] as? Int == 0)
            #expect(try await h.webhook(uuid, secret: secret, PayloadFixtures.custom).0 == 200)
        }
    }
}
