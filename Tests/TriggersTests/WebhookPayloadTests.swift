import Registry
import Testing
@testable import Triggers
import SlipwayCore

/// Recorded payload shapes → normalised metadata (§4.1–4.3).
@Suite("Webhook payloads")
struct WebhookPayloadTests {
    typealias P = PayloadFixtures
    static let none = WebhookPayload.Headers()

    static func build(_ body: String, _ headers: WebhookPayload.Headers = none, defaultBranch: String? = nil) throws -> [String: EventValue] {
        let outcome = try WebhookPayload.parse(Array(body.utf8), headers: headers, defaultBranch: defaultBranch)
        guard case .build(let meta) = outcome else { throw TestError("expected a build, got \(outcome)") }
        return meta
    }

    struct TestError: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

    @Test func customGit() throws {
        let m = try Self.build(P.custom)
        #expect(m["commit"] == .string(P.sha))
        #expect(m["ref"] == .string("refs/heads/master"))
        #expect(m["default_branch"] == .string("master"))
        #expect(m["commit_info"]?["message"] == .string("initial commit"))
        #expect(m["commit_info"]?["author"]?["avatar_url"] == .string("https://git.example.com/avatars/dev.png"))
        #expect(m["commit_info"]?["committer"]?["username"] == .string("bot"))
        #expect(m["git_url"] == nil, "the trigger's build_source is the git URL, never the payload's")
    }

    @Test func githubPush() throws {
        let m = try Self.build(P.githubPush, .init(githubEvent: "push"))
        #expect(m["commit"] == .string(P.sha))
        #expect(m["ref"] == .string("refs/heads/main"))
        #expect(m["default_branch"] == .string("main"))
        let info = try #require(m["commit_info"])
        #expect(info["url"] == .string("https://github.com/acme/app/commit/\(P.sha)"))
        #expect(info["date"] == .string("2026-11-29T09:00:00+01:00"))
        #expect(info["author"]?["username"] == .string("devel"))
        #expect(info["author"]?["avatar_url"] == .string("https://avatars.githubusercontent.com/u/6752317?v=3"), "from the sender, who is the author")
        #expect(info["committer"]?["username"] == .string("web-flow"))
        #expect(info["committer"]?["url"] == nil)
        // Without the event header the shape is recognised too.
        #expect(try Self.build(P.githubPush) == m)
    }

    @Test func githubTagPing() throws {
        let tag = try Self.build(P.githubTag, .init(githubEvent: "push"))
        #expect(tag["ref"] == .string("refs/tags/v1.4.0"))
        #expect(tag["commit"] == .string(P.sha))
        for headers in [WebhookPayload.Headers(githubEvent: "ping"), Self.none] {
            #expect(try WebhookPayload.parse(Array(P.githubPing.utf8), headers: headers, defaultBranch: nil) == .skip("ping event"))
        }
        let delete = try WebhookPayload.parse(Array(P.githubDelete.utf8), headers: .init(githubEvent: "push"), defaultBranch: nil)
        #expect(delete == .skip("refs/heads/old-feature was deleted"))
        let other = try WebhookPayload.parse(Array(P.githubPush.utf8), headers: .init(githubEvent: "pull_request"), defaultBranch: nil)
        guard case .skip = other else { Issue.record("a pull_request event built"); return }
    }

    @Test func gitlab() throws {
        let push = try Self.build(P.gitlabPush, .init(gitlabEvent: "Push Hook"))
        #expect(push["commit"] == .string(P.sha))
        #expect(push["ref"] == .string("refs/heads/develop"))
        #expect(push["default_branch"] == .string("main"))
        #expect(push["commit_info"]?["message"] == .string("fixed readme"), "the checked-out commit, not the first listed")
        #expect(push["commit_info"]?["author"]?["username"] == .string("jsmith"))
        #expect(push["commit_info"]?["author"]?["url"] == .string("https://gitlab.example.com/jsmith"))
        #expect(try Self.build(P.gitlabPush) == push)

        let tag = try Self.build(P.gitlabTag, .init(gitlabEvent: "Tag Push Hook"))
        #expect(tag["ref"] == .string("refs/tags/v2.0"))
        #expect(tag["commit_info"] == nil, "a tag push lists no commits; it still builds")

        #expect(try WebhookPayload.parse(Array(P.gitlabDelete.utf8), headers: .init(gitlabEvent: "Push Hook"), defaultBranch: nil)
                == .skip("refs/heads/gone was deleted"))
        let mr = try WebhookPayload.parse(Array(P.gitlabMergeRequest.utf8), headers: .init(gitlabEvent: "Merge Request Hook"), defaultBranch: nil)
        #expect(mr == .skip("GitLab event 'merge_request' is not a push"))
    }

    @Test func bitbucket() throws {
        let push = try Self.build(P.bitbucketPush, .init(bitbucketEvent: "repo:push"))
        #expect(push["ref"] == .string("refs/heads/feature/login"))
        #expect(push["commit"] == .string(P.sha))
        #expect(push["default_branch"] == .string("main"))
        #expect(push["commit_info"]?["url"] == .string("https://bitbucket.org/acme/app/commits/\(P.sha)"))
        #expect(push["commit_info"]?["author"]?["username"] == .string("jsmith"))
        #expect(push["commit_info"]?["committer"]?["avatar_url"] == .string("https://avatar-management.example.com/jsmith.png"))
        #expect(try Self.build(P.bitbucketPush) == push)
        #expect(try Self.build(P.bitbucketTag)["ref"] == .string("refs/tags/v3.1"))
        #expect(try WebhookPayload.parse(Array(P.bitbucketDelete.utf8), headers: .init(bitbucketEvent: "repo:push"), defaultBranch: nil)
                == .skip("a branch or tag was deleted"))
    }

    @Test func theConfiguredDefaultBranchFillsIn() throws {
        let body = P.bitbucket(new: #"{"type": "branch", "name": "trunk", "target": \#(P.bitbucketTarget)}"#)
            .replacingOccurrences(of: #""mainbranch": {"name": "main", "type": "branch"}"#, with: #""scm": "git""#)
        #expect(try Self.build(body, defaultBranch: "trunk")["default_branch"] == .string("trunk"))
        #expect(try Self.build(body)["default_branch"] == nil)
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        let body: String
        let message: String
        var testDescription: String { message }
    }

    @Test(arguments: [
        Bad(body: "not json", message: "the webhook body is not valid JSON"),
        Bad(body: "[1,2]", message: "the webhook body must be a JSON object"),
        Bad(body: "{}", message: "'commit' is a required property"),
        Bad(body: #"{"commit": "1c002dd", "default_branch": "master"}"#, message: "'ref' is a required property"),
        Bad(body: #"{"commit": "1c002dd", "ref": "refs/heads/master"}"#, message: "'default_branch' is a required property"),
        Bad(body: #"{"commit": 12, "ref": "refs/heads/master", "default_branch": "m"}"#, message: "'commit' must be a string"),
        Bad(body: #"{"commit": "xyz", "ref": "refs/heads/master", "default_branch": "m"}"#, message: "'commit' must be a commit id of 7 to 64 hexadecimal digits"),
        Bad(body: #"{"commit": "1c002dd", "ref": "master", "default_branch": "m"}"#, message: "'ref' must be a git ref"),
        Bad(body: #"{"commit": "1c002dd", "ref": "refs/heads/../../etc", "default_branch": "m"}"#, message: "'ref' must be a git ref"),
        Bad(body: #"{"commit": "1c002dd", "ref": "refs/heads/a b;reboot", "default_branch": "m"}"#, message: "'ref' must be a git ref"),
        Bad(body: #"{"commit": "1c002dd", "ref": "refs/heads/x", "default_branch": "m", "commit_info": {"url": "u", "date": "d"}}"#,
            message: "'commit_info.message' is a required property"),
        Bad(body: #"{"commit": "1c002dd", "ref": "refs/heads/x", "default_branch": "m", "commit_info": {"url": "u", "date": "d", "message": "m", "author": {"username": "a", "url": "u"}}}"#,
            message: "'commit_info.author.avatar_url' is a required property"),
        Bad(body: #"{"ref": "refs/heads/x", "head_commit": {"message": "m"}, "repository": {}}"#, message: "'head_commit.id' is a required property"),
        Bad(body: #"{"push": {"changes": "nope"}, "repository": {}}"#, message: "'push.changes' is a required property"),
    ])
    func invalidPayloadsNameTheField(_ bad: Bad) {
        let error = #expect(throws: WebhookPayload.Invalid.self) {
            try WebhookPayload.parse(Array(bad.body.utf8), headers: Self.none, defaultBranch: nil)
        }
        #expect(error?.message.hasPrefix(bad.message) == true, "got: \(error?.message ?? "-")")
    }
}
