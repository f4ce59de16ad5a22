import BuildOrchestrator
import Crypto
import Foundation
import HTTPTypes
import Registry
import SlipwayTestSupport
import Testing
@testable import Triggers
import SlipwayCore

/// The webhook endpoint end to end inside the server: payload → queued build row with tags,
/// metadata and source; pushes that build nothing; refusals that queue nothing.
@Suite("Trigger webhooks")
struct WebhookTests {
    typealias H = TriggerHarness
    typealias P = PayloadFixtures

    @Test(arguments: TestBackend.available)
    func eachPayloadKindQueuesABuild(backend: TestBackend) async throws {
        try await H.run(backend) { h in
            let (uuid, secret) = try await h.activated(config: ["tag_templates": ["${commit_info.short_sha}", "by-${commit_info.author.username}"],
                                                                "dockerfile_path": "/docker/app/Dockerfile", "context": "/docker"])
            let t = try await h.trigger(uuid)
            struct Case { let body: String; let headers: HTTPFields; let tags: [String]; let ref: String }
            let cases = [
                Case(body: P.custom, headers: [:], tags: ["1c002dd", "by-dev", "master", "latest"], ref: "refs/heads/master"),
                Case(body: P.githubPush, headers: [HTTPField.Name("X-GitHub-Event")!: "push"], tags: ["1c002dd", "by-devel", "main", "latest"],
                     ref: "refs/heads/main"),
                Case(body: P.githubTag, headers: [HTTPField.Name("X-GitHub-Event")!: "push"], tags: ["1c002dd", "by-devel", "v1.4.0"], ref: "refs/tags/v1.4.0"),
                Case(body: P.gitlabPush, headers: [HTTPField.Name("X-Gitlab-Event")!: "Push Hook"], tags: ["1c002dd", "by-jsmith", "develop"],
                     ref: "refs/heads/develop"),
                Case(body: P.bitbucketPush, headers: [HTTPField.Name("X-Event-Key")!: "repo:push"], tags: ["1c002dd", "by-jsmith", "feature_login"],
                     ref: "refs/heads/feature/login"),
            ]
            for (i, c) in cases.enumerated() {
                // The legacy repository-qualified path works the same.
                let path = i == 1 ? "/webhooks/push/admin/app/trigger/\(uuid)" : nil
                let (status, answer) = try await h.webhook(uuid, secret: secret, c.body, headers: c.headers, path: path)
                #expect(status == 200, "\(answer)")
                #expect(answer["status"] as? String == "queued")
                #expect(answer["tags"] as? [String] == c.tags)
                let build = try await h.build(answer["build_id"])
                #expect(build.tags == c.tags)
                #expect(build.sourceKind == "git" && build.gitURL == H.source && build.commitSHA == P.sha)
                #expect(build.dockerfilePath == "docker/app/Dockerfile" && build.context == "docker")
                #expect(build.triggerID == t.id && build.manualUserID == nil && build.displayName == "1c002dd")
                let meta = try #require(build.triggerMetadata.flatMap(EventValue.parse))
                #expect(meta["commit"] == .string(P.sha) && meta["ref"] == .string(c.ref))
                #expect(meta["git_url"] == .string(H.source) && meta["trigger_kind"] == .string("custom-git"))
            }
            #expect(try await h.builds().count == cases.count)

            // The build view names the trigger; the queued event carries the metadata.
            let latest = try #require(try await h.builds().first)
            let (_, view) = try await h.api(.get, "/api/v1/repository/admin/app/build/\(latest.uuid)")
            #expect((view["trigger"] as? [String: Any])?["id"] as? String == uuid)
            #expect((view["trigger_metadata"] as? [String: Any])?["commit"] as? String == P.sha)
            let events = try await h.registry.services.events.events(kind: "build_queued", repositoryID: h.repo.id)
            #expect(events.count == cases.count)
            #expect(events.first?.payload["trigger_metadata"]?["ref"] == .string("refs/heads/master"))
            #expect(events.first?.payload["trigger_kind"] == .string("custom-git"))
            #expect(events.first?.payload["is_manual"] == .bool(false))

            await h.registry.services.auditLog.flush()
            let logs = try await h.registry.services.auditStore.usageLogs(scope: .repository(h.repo.id), start: 0, end: Int64.max, performer: nil,
                                                                      before: nil, limit: 50)
            let built = logs.filter { $0.kind == "build_dockerfile" }
            #expect(built.count == cases.count)
            #expect(built.first?.metadata["trigger_id"] == uuid && built.first?.metadata["trigger_metadata"]?.contains(P.sha) == true)
        }
    }

    @Test(arguments: TestBackend.available)
    func pushesThatBuildNothing(backend: TestBackend) async throws {
        try await H.run(backend) { h in
            let (uuid, secret) = try await h.activated(config: ["branchtag_regex": "heads/(main|master)|tags/v.+"])
            let github: HTTPFields = [HTTPField.Name("X-GitHub-Event")!: "push"]
            let skipMessage = P.custom.replacingOccurrences(of: "initial commit", with: "docs only [skip build]")
            let buildSkip = P.custom.replacingOccurrences(of: "initial commit", with: "wip\\n\\n[build skip]")
            let outside = P.custom.replacingOccurrences(of: "refs/heads/master", with: "refs/heads/experiment")
            let deleted = P.custom.replacingOccurrences(of: P.sha, with: String(repeating: "0", count: 40))
            let cases: [(String, HTTPFields, String)] = [
                (P.githubPing, [HTTPField.Name("X-GitHub-Event")!: "ping"], "ping"),
                (P.githubDelete, github, "deleted"),
                (P.gitlabDelete, [HTTPField.Name("X-Gitlab-Event")!: "Push Hook"], "deleted"),
                (P.bitbucketDelete, [HTTPField.Name("X-Event-Key")!: "repo:push"], "deleted"),
                (P.githubPush, [HTTPField.Name("X-GitHub-Event")!: "issues"], "not a push"),
                (skipMessage, [:], "[skip build]"),
                (buildSkip, [:], "[build skip]"),
                (outside, [:], "heads/experiment does not match"),
                (deleted, [:], "deleted"),
            ]
            for (body, headers, fragment) in cases {
                let (status, answer) = try await h.webhook(uuid, secret: secret, body, headers: headers)
                #expect(status == 200, "\(fragment): \(answer)")
                #expect(answer["status"] as? String == "skipped")
                #expect((answer["message"] as? String)?.contains(fragment) == true, "\(fragment): \(answer)")
            }
            #expect(try await h.builds().isEmpty)
            let activity = try await h.activity(uuid)
            #expect(activity.count == cases.count)
            #expect(activity.allSatisfy { $0["outcome"] as? String == "skipped" })
            #expect((activity.first?["reason"] as? String)?.contains("experiment") == false)
            #expect(activity.contains { ($0["reason"] as? String)?.contains("[skip build]") == true && $0["commit"] as? String == P.sha })

            // A matching branch builds.
            #expect(try await h.webhook(uuid, secret: secret, P.custom).0 == 200)
            #expect(try await h.builds().count == 1)
        }
    }

    @Test(arguments: TestBackend.available)
    func refusalsQueueNothing(backend: TestBackend) async throws {
        try await H.run(backend, configure: { $0.builds.maxQueuedPerNamespace = 1 }) { h in
            let (uuid, secret) = try await h.activated()
            let inactive = try await h.create()
            var (status, answer) = try await h.webhook(uuid, secret: nil, P.custom)
            #expect(status == 401 && (answer["error_message"] as? String)?.contains("View Credentials") == true)
            #expect(try await h.webhook(uuid, secret: "wrong-secret", P.custom).0 == 403)
            let wrongUser = try await h.c.client.executeRequest(uri: "/webhooks/push/trigger/\(uuid)", method: .post,
                                                               headers: [.contentType: "application/json", .authorization: H.basic(secret, user: "admin")],
                                                               body: .init(string: P.custom))
            #expect(wrongUser.status.code == 403)
            #expect(try await h.webhook("00000000-0000-0000-0000-000000000000", secret: secret, P.custom).0 == 404)
            #expect(try await h.webhook(inactive, secret: secret, P.custom).0 == 400)
            (status, answer) = try await h.webhook(uuid, secret: secret, "payload=%7B%7D", contentType: "application/x-www-form-urlencoded")
            #expect(status == 415 && (answer["error_message"] as? String)?.contains("application/json") == true)
            #expect(try await h.webhook(uuid, secret: secret, P.custom, contentType: nil).0 == 415)
            (status, answer) = try await h.webhook(uuid, secret: secret, "{not json")
            #expect(status == 400 && answer["error_message"] as? String == "the webhook body is not valid JSON")
            (status, answer) = try await h.webhook(uuid, secret: secret, #"{"commit":"1c002dd","ref":"refs/heads/x"}"#)
            #expect(status == 400 && (answer["error_message"] as? String)?.contains("default_branch") == true)
            let huge = #"{"commit":"1c002dd","ref":"refs/heads/x","default_branch":"x","pad":""# + String(repeating: "a", count: 1 << 20) + #""}"#
            #expect(try await h.webhook(uuid, secret: secret, huge).0 == 413)
            #expect(try await h.builds().isEmpty)
            #expect(try await h.activity(uuid).allSatisfy { $0["outcome"] as? String == "refused" })

            // Disabled triggers refuse; a full queue answers 429.
            _ = try await h.api(.put, "\(H.base)/\(uuid)", ["enabled": false])
            (status, answer) = try await h.webhook(uuid, secret: secret, P.custom)
            #expect(status == 400 && (answer["error_message"] as? String)?.hasPrefix("This build trigger is currently disabled") == true)
            _ = try await h.api(.put, "\(H.base)/\(uuid)", ["enabled": true])
            #expect(try await h.webhook(uuid, secret: secret, P.custom).0 == 200)
            #expect(try await h.webhook(uuid, secret: secret, P.custom).0 == 429)
            #expect(try await h.builds().count == 1)
        }
    }

    @Test(arguments: TestBackend.available)
    func signaturesAndDuplicateDeliveries(backend: TestBackend) async throws {
        try await H.run(backend) { h in
            let signing = "s3cret-shared-with-github"
            let (uuid, secret) = try await h.activated("github", config: ["webhook_secret": signing])
            let (_, view) = try await h.api(.get, "\(H.base)/\(uuid)")
            #expect((view["config"] as? [String: Any])?["webhook_secret"] == nil, "the signing secret is never shown")
            #expect((view["config"] as? [String: Any])?["has_webhook_secret"] as? Bool == true)
            #expect(view["repository_url"] as? String == "https://git.example.com/srv/app")

            let body = P.githubPush
            let mac = HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: Data(signing.utf8)))
            let signature = "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
            let event = HTTPField.Name("X-GitHub-Event")!
            let sig = HTTPField.Name("X-Hub-Signature-256")!
            let delivery = HTTPField.Name("X-GitHub-Delivery")!
            var (status, answer) = try await h.webhook(uuid, secret: secret, body, headers: [event: "push"])
            #expect(status == 401 && (answer["error_message"] as? String)?.contains("X-Hub-Signature-256") == true)
            (status, _) = try await h.webhook(uuid, secret: secret, body, headers: [event: "push", sig: "sha256=" + String(repeating: "0", count: 64)])
            #expect(status == 403)
            (status, _) = try await h.webhook(uuid, secret: secret, body + " ", headers: [event: "push", sig: signature])
            #expect(status == 403, "a changed body does not verify")
            (status, _) = try await h.webhook(uuid, secret: secret, P.gitlabPush, headers: [HTTPField.Name("X-Gitlab-Token")!: "nope"])
            #expect(status == 403)
            #expect(try await h.builds().isEmpty)

            (status, answer) = try await h.webhook(uuid, secret: secret, body, headers: [event: "push", sig: signature, delivery: "d-1"])
            #expect(status == 200 && answer["status"] as? String == "queued", "\(answer)")
            let first = answer["build_id"] as? String
            // GitHub redelivers with the same delivery id: nothing new is queued.
            (status, answer) = try await h.webhook(uuid, secret: secret, body, headers: [event: "push", sig: signature, delivery: "d-1"])
            #expect(status == 200 && answer["status"] as? String == "duplicate" && answer["build_id"] as? String == first)
            (status, answer) = try await h.webhook(uuid, secret: secret, P.gitlabPush, headers: [HTTPField.Name("X-Gitlab-Token")!: signing])
            #expect(status == 200 && answer["status"] as? String == "queued")
            #expect(try await h.builds().count == 2)
        }
    }

    /// A burst of webhooks is written in group commits: each accepted webhook gets exactly one
    /// build, one `build_queued` event naming the trigger and one activity entry, and the
    /// namespace's queue cap holds across the builds of one batch.
    @Test(arguments: TestBackend.available)
    func concurrentWebhooksQueueExactlyOnceWithinTheCap(backend: TestBackend) async throws {
        try await H.run(backend, configure: { $0.builds.maxQueuedPerNamespace = 20 }) { h in
            let (uuid, secret) = try await h.activated(config: ["tag_templates": ["${commit_info.short_sha}"]])
            // (status, commit, status field, build id) of each webhook.
            let answers = try await withThrowingTaskGroup(of: (Int, String, String?, String?).self) { group in
                for i in 0..<30 {
                    let sha = String(format: "%040x", i + 1)
                    let body = #"{"commit": "\#(sha)", "ref": "refs/heads/main", "default_branch": "main"}"#
                    group.addTask {
                        let (status, answer) = try await h.webhook(uuid, secret: secret, body)
                        return (status, sha, answer["status"] as? String, answer["build_id"] as? String)
                    }
                }
                var all: [(Int, String, String?, String?)] = []
                for try await answer in group { all.append(answer) }
                return all
            }
            let queued = answers.filter { $0.0 == 200 && $0.2 == "queued" }
            #expect(queued.count == 20, "\(answers.map { ($0.0, $0.2) })")
            #expect(answers.filter { $0.0 == 429 }.count == 10)
            let builds = try await h.builds()
            #expect(builds.count == 20)
            #expect(Set(builds.map(\.uuid)) == Set(queued.compactMap(\.3)))
            for (_, sha, _, buildID) in queued {
                #expect(builds.first { $0.uuid == buildID }?.commitSHA == sha)
            }
            let events = try await h.registry.services.events.events(kind: "build_queued", repositoryID: h.repo.id)
            #expect(events.count == 20)
            #expect(events.allSatisfy { $0.payload["trigger_id"] == .string(uuid) })
            #expect(Set(events.compactMap { $0.payload["build_id"]?.stringValue }) == Set(builds.map(\.uuid)))
            let (_, listed) = try await h.api(.get, "\(H.base)/\(uuid)/activity?limit=50")
            let activity = (listed["activity"] as? [[String: Any]]) ?? []
            #expect(activity.count == 30)
            #expect(activity.filter { $0["outcome"] as? String == "queued" }.count == 20)
            #expect(activity.filter { ($0["reason"] as? String)?.contains("queue is full") == true }.count == 10)
        }
    }

    /// The webhook itself evaluates the failure counters (read with the trigger in one query):
    /// a success after internal errors keeps the trigger enabled; five internal errors in a row
    /// disable it at the next webhook, which builds nothing.
    @Test(arguments: TestBackend.available)
    func webhookAppliesTheFailureCounters(backend: TestBackend) async throws {
        try await H.run(backend) { h in
            let (uuid, secret) = try await h.activated()
            let t = try await h.trigger(uuid)
            func finish(_ phases: [String]) async throws {
                for phase in phases {
                    var record = BuildRecord(repository: h.repo, sourceKind: "git", gitURL: H.source, commitSHA: P.sha,
                                             dockerfilePath: "Dockerfile", context: "", tags: ["x"], displayName: "x", manualUserID: nil)
                    record.triggerID = t.id
                    let stored = try await h.registry.buildFarm.store.insertBuild(record)
                    try await h.registry.buildFarm.store.finishBuild(uuid: stored.uuid, phase: .init(rawValue: phase)!, error: nil, manifestDigests: [:])
                    try await Task.sleep(for: .milliseconds(2))
                }
            }
            try await finish(["internalerror", "internalerror", "internalerror", "internalerror", "complete"])
            #expect(try await h.webhook(uuid, secret: secret, P.custom).0 == 200)
            #expect(try await h.trigger(uuid).enabled)
            let before = try await h.builds().count
            try await finish(["internalerror", "internalerror", "internalerror", "internalerror", "internalerror"])
            let (status, answer) = try await h.webhook(uuid, secret: secret, P.custom)
            #expect(status == 400 && (answer["error_message"] as? String)?.contains("successive_build_internal_errors") == true, "\(answer)")
            let stored = try await h.trigger(uuid)
            #expect(!stored.enabled && stored.disabledReason == .successiveBuildInternalErrors)
            #expect(try await h.builds().count == before + 5, "the refused webhook queued nothing")
        }
    }

    @Test func triggerUUIDFromPaths() {
        #expect(WebhookEndpoint.triggerUUID(path: "/webhooks/push/trigger/abc") == "abc")
        #expect(WebhookEndpoint.triggerUUID(path: "/webhooks/push/acme/app/trigger/abc") == "abc")
        #expect(WebhookEndpoint.triggerUUID(path: "/webhooks/push/acme/team/app/trigger/abc") == "abc")
        #expect(WebhookEndpoint.triggerUUID(path: "/webhooks/push/acme/trigger/abc") == nil)
        #expect(WebhookEndpoint.triggerUUID(path: "/webhooks/push/trigger/") == nil)
        #expect(WebhookEndpoint.triggerUUID(path: "/webhooks/push//app/trigger/abc") == nil)
    }
}
