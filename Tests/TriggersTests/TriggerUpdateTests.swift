import BuildOrchestrator
import Foundation
import Registry
import SlipwayTestSupport
import Testing
@testable import Triggers
import SlipwayCore

/// Editing an active trigger (`PUT .../trigger/{uuid}` with `config` and `pull_robot`, issue #16
/// item 11) and the tag-template variables activation accepts (item 4).
@Suite("Trigger edits and tag-template variables")
struct TriggerUpdateTests {
    typealias H = TriggerHarness

    @Test(arguments: TestBackend.available)
    func editingTheConfigKeepsTheDeployKeyAndTheWebhookURL(backend: TestBackend) async throws {
        try await H.run(backend) { h in
            let (uuid, secret) = try await h.activated(config: ["tag_templates": ["${commit_info.short_sha}"]])
            var (status, before) = try await h.api(.get, "\(H.base)/\(uuid)")
            let credentials = H.credentials(before)
            let storedBefore = try await h.trigger(uuid)

            (status, before) = try await h.api(.put, "\(H.base)/\(uuid)", ["config": [
                "build_source": "https://git.example.com/acme/app.git", "dockerfile_path": "/build/Dockerfile", "context": "/build",
                "tag_templates": ["v-${parsed_ref.branch}"], "default_tag_from_ref": false,
            ]])
            #expect(status == 200, "\(before)")
            #expect(before["build_source"] as? String == "https://git.example.com/acme/app.git")
            let config = try #require(before["config"] as? [String: Any])
            #expect(config["tag_templates"] as? [String] == ["v-${parsed_ref.branch}"])
            #expect(config["default_tag_from_ref"] as? Bool == false)
            #expect(H.credentials(before) == credentials, "the deploy key and the webhook URL stay")
            let stored = try await h.trigger(uuid)
            #expect(stored.privateKeySealed == storedBefore.privateKeySealed && stored.urlSecretSealed == storedBefore.urlSecretSealed)
            #expect(stored.isActive && stored.enabled)

            // The next webhook builds with the new rules, through the same URL and secret.
            let (hook, answer) = try await h.webhook(uuid, secret: secret, PayloadFixtures.custom)
            #expect(hook == 200 && answer["tags"] as? [String] == ["v-master", "latest"], "\(answer)")
            let build = try await h.build(answer["build_id"])
            #expect(build.gitURL == "https://git.example.com/acme/app.git" && build.dockerfilePath == "build/Dockerfile" && build.context == "build")

            // Validated exactly as at activation: a bad config changes nothing.
            let badConfigs: [([String: Any], String)] = [([String: Any](), "build_source is required"),
                                    (["build_source": "file:///srv/app.git"], "local file URL"),
                                    (["build_source": H.source, "tag_templates": ["${nope}"]], "'${nope}'"),
                                    (["build_source": H.source, "dockerfile_path": "/../Dockerfile"], "'..'")]
            for (bad, fragment) in badConfigs {
                let (s, body) = try await h.api(.put, "\(H.base)/\(uuid)", ["config": bad])
                #expect(s == 400 && (body["error_message"] as? String)?.contains(fragment) == true, "\(bad): \(body)")
            }
            #expect(try await h.trigger(uuid).config == stored.config)
            let badBodies: [([String: Any], String)] = [(["config": "x"], "config must be an object"), (["colour": "red"], "unknown field 'colour'"),
                                                        ([:], "nothing to change"), (["enabled": "yes"], "enabled must be a boolean")]
            for (body, fragment) in badBodies {
                let (s, answer) = try await h.api(.put, "\(H.base)/\(uuid)", body)
                #expect(s == 400 && (answer["error_message"] as? String)?.contains(fragment) == true, "\(body): \(answer)")
            }
            let inactive = try await h.create()
            let (s, answer2) = try await h.api(.put, "\(H.base)/\(inactive)", ["config": ["build_source": H.source]])
            #expect(s == 400 && answer2["error_message"] as? String == "Trigger is not active.")

            await h.registry.services.auditLog.flush()
            let logs = try await h.registry.services.auditStore.usageLogs(scope: .repository(h.repo.id), start: 0, end: Int64.max, performer: nil,
                                                                      before: nil, limit: 50)
            #expect(logs.contains { $0.kind == "update_repo_trigger" })
        }
    }

    @Test(arguments: TestBackend.available)
    func aPullRobotCanBeGivenToAnActiveTriggerAndTakenAway(backend: TestBackend) async throws {
        try await H.run(backend) { h in
            #expect(try await h.api(.put, "/api/v1/user/robots/puller", ["description": ""]).0 == 201)
            let (uuid, secret) = try await h.activated()
            var (status, view) = try await h.api(.put, "\(H.base)/\(uuid)", ["pull_robot": "admin+puller"])
            #expect(status == 200 && (view["pull_robot"] as? [String: Any])?["name"] as? String == "admin+puller", "\(view)")
            let (_, answer) = try await h.webhook(uuid, secret: secret, PayloadFixtures.custom)
            #expect(try await h.build(answer["build_id"]).pullRobotID != nil, "the next build pulls with the robot")
            (status, view) = try await h.api(.put, "\(H.base)/\(uuid)", ["pull_robot": "someone+else"])
            #expect(status == 404)
            (status, view) = try await h.api(.put, "\(H.base)/\(uuid)", ["pull_robot": NSNull(), "enabled": false])
            #expect(status == 200 && view["pull_robot"] is NSNull && view["enabled"] as? Bool == false, "\(view)")
        }
    }

    @Test(arguments: TestBackend.available)
    func unknownTemplateVariablesAreRefusedAtActivation(backend: TestBackend) async throws {
        try await H.run(backend) { h in
            let uuid = try await h.create()
            let (status, body) = try await h.api(.post, "\(H.base)/\(uuid)/activate",
                                                 ["config": ["build_source": H.source, "tag_templates": ["ok-${commit}", "x-${nope}"]]])
            let message = body["error_message"] as? String ?? ""
            #expect(status == 400 && body["error_type"] as? String == "invalid_request", "\(body)")
            #expect(message.contains("'${nope}' in 'x-${nope}' is not a template variable"), "\(message)")
            #expect(message.contains("${commit_info.short_sha}") && message.contains("${parsed_ref.branch}"), "\(message)")
            #expect(try await h.trigger(uuid).isActive == false)
        }
    }

    @Test(arguments: [
        ("${nope}", "nope"), ("v-${commit_info.sha}", "commit_info.sha"), ("${commit_info}", "commit_info"),
        ("${parsed_ref}", "parsed_ref"), ("${author.properties.nope}", "commit_info.author.nope"),
    ])
    func unknownVariablesAreNamed(_ template: String, _ variable: String) throws {
        let raw: [String: EventValue] = ["build_source": .string("https://git.example.com/a.git"), "tag_templates": .strings([template])]
        let error = #expect(throws: DomainError.self) { try TriggerConfigValidation.validate(raw) }
        #expect(error?.message.contains("'${\(variable)}'") == true, "\(error?.message ?? "")")
    }

    @Test(arguments: TagTemplate.variables.map { "${\($0)}" } + ["${committer.properties.username}", "${author.properties.username}", "v-${ commit }"])
    func everyDocumentedVariableIsAccepted(_ template: String) throws {
        let raw: [String: EventValue] = ["build_source": .string("https://git.example.com/a.git"), "tag_templates": .strings([template])]
        #expect(throws: Never.self) { try TriggerConfigValidation.validate(raw) }
    }
}
