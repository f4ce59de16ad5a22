import BuildOrchestrator
import BuildProtocol
import Foundation
import SlipwayTestSupport
import Testing
@testable import Triggers

/// A trigger's `config.platforms` (#18 item 1): validated like a manual build's, shown in the
/// config, and carried by every build the trigger queues.
@Suite("Trigger platforms")
struct TriggerPlatformsTests {
    typealias H = TriggerHarness

    @Test(arguments: TestBackend.available)
    func triggerBuildsCarryTheTriggersPlatforms(backend: TestBackend) async throws {
        try await H.run(backend) { h in
            let (uuid, hookSecret) = try await h.activated(config: ["platforms": ["linux/arm64", "linux/amd64"]])
            let (status, view) = try await h.api(.get, "\(H.base)/\(uuid)")
            #expect(status == 200)
            var config = try #require(view["config"] as? [String: Any])
            #expect(config["platforms"] as? [String] == ["linux/arm64", "linux/amd64"])

            let (hook, answer) = try await h.webhook(uuid, secret: hookSecret, PayloadFixtures.custom)
            #expect(hook == 200, "\(answer)")
            #expect(try await h.build(answer["build_id"]).platforms == ["linux/arm64", "linux/amd64"])

            // Bad platforms are refused and change nothing; an empty list removes them.
            config["credentials"] = nil
            for (bad, words) in [(["linux/mips"] as Any, "not a known platform"), ("linux/arm64", "must be a list of strings"),
                                 ([1] as Any, "must be a list of strings")] {
                config["platforms"] = bad
                let (s, refused) = try await h.api(.put, "\(H.base)/\(uuid)", ["config": config])
                #expect(s == 400 && (refused["error_message"] as? String)?.contains(words) == true, "\(refused)")
            }
            #expect(try await h.trigger(uuid).config.platforms == ["linux/arm64", "linux/amd64"])
            config["platforms"] = [String]()
            let (s, _) = try await h.api(.put, "\(H.base)/\(uuid)", ["config": config])
            #expect(s == 200)
            #expect(try await h.trigger(uuid).config.platforms == [])
        }
    }
}
