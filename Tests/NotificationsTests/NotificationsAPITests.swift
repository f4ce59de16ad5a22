import Foundation
import HTTPTypes
import NIOCore
@testable import Notifications
import Registry
import SlipwayTestSupport
import Testing

/// The repository notification API: views, life cycle and validation (quay-reference §1.10).
@Suite("Notification API")
struct NotificationsAPITests {
    /// Found by schemathesis: a number beyond Int64 anywhere in the body trapped in
    /// `EventValue` and killed the server. It is a Quay 400 and the server keeps serving.
    @Test(arguments: TestBackend.available)
    func aHugeNumberInTheBodyIsABadRequest(backend: TestBackend) async throws {
        try await NotificationFixture.with(backend) { f in
            for body in [#"{"event":"repo_push","method":"webhook","config":{"url":"http://127.0.0.1:9/h","n":1e300},"eventConfig":{}}"#,
                         #"{"x":[-3794251015403913035504871800832]}"#] {
                let r = try await f.send(.post, "/api/v1/repository/admin/app/notification/", body)
                #expect(r.status == .badRequest, "\(String(buffer: r.body))")
                #expect(r.object["error_type"] as? String == "invalid_request")
            }
            #expect(try await f.send(.get, "/api/v1/repository/admin/app/notification/").status == .ok)
        }
    }

    @Test(arguments: TestBackend.available)
    func createListGetResetDelete(backend: TestBackend) async throws {
        try await NotificationFixture.with(backend) { f in
            let base = "/api/v1/repository/admin/app/notification"
            let view = try await f.create(#"""
                {"event":"repo_push","method":"webhook","title":"Deploy","config":{"url":"http://127.0.0.1:9/hook","secret":"s3cret"},"eventConfig":{}}
                """#)
            let uuid = try #require(view["uuid"] as? String)
            #expect(view["title"] as? String == "Deploy")
            #expect(view["event"] as? String == "repo_push")
            #expect(view["method"] as? String == "webhook")
            #expect(view["number_of_failures"] as? Int == 0)
            #expect((view["event_config"] as? [String: Any])?.isEmpty == true)
            let config = try #require(view["config"] as? [String: Any])
            #expect(config["url"] as? String == "http://127.0.0.1:9/hook")
            #expect(config["secret"] == nil, "the secret is never shown")
            #expect(view["has_secret"] as? Bool == true)
            #expect(view["unsupported"] == nil)

            // Without a title, `title` is null (Quay).
            let untitled = try await f.create(#"{"event":"build_failure","method":"slack","config":{"url":"http://127.0.0.1:9/s"},"eventConfig":{"ref-regex":"refs/heads/.*"}}"#)
            #expect(untitled["title"] is NSNull)
            #expect((untitled["event_config"] as? [String: Any])?["ref-regex"] as? String == "refs/heads/.*")

            for path in [base + "/", base] {
                let list = try await f.send(.get, path)
                #expect(list.status == .ok)
                let items = try #require(list.object["notifications"] as? [[String: Any]])
                #expect(items.map { $0["uuid"] as? String } == [uuid, untitled["uuid"] as? String])
            }
            let one = try await f.send(.get, "\(base)/\(uuid)")
            #expect(one.status == .ok)
            #expect(one.object["uuid"] as? String == uuid)
            #expect(try await f.send(.get, "\(base)/no-such-uuid").status == .notFound)

            #expect(try await f.send(.post, "\(base)/\(uuid)").status == .noContent)
            #expect(try await f.send(.post, "\(base)/\(uuid)/test").object.isEmpty)
            #expect(try await f.send(.delete, "\(base)/\(uuid)").status == .noContent)
            #expect(try await f.send(.get, "\(base)/\(uuid)").status == .notFound)
            // Quay answers writes to unknown notifications with 400.
            for (method, path) in [(HTTPRequest.Method.delete, "\(base)/\(uuid)"), (.post, "\(base)/\(uuid)"), (.post, "\(base)/\(uuid)/test")] {
                let r = try await f.send(method, path)
                #expect(r.status == .badRequest)
                #expect(r.errorMessage.contains("No repository notification found"))
            }

            // Flowdock and HipChat are stored for compatibility but marked as undeliverable.
            let hipchat = try await f.create(#"{"event":"repo_push","method":"hipchat","config":{"notification_token":"t","room_id":"1"},"eventConfig":{}}"#)
            #expect(hipchat["unsupported"] as? Bool == true)
            #expect((hipchat["unsupported_reason"] as? String)?.contains("HipChat") == true)

            // Usage logs name the notification.
            await f.registry.services.auditLog.flush()
            let logs = try await f.send(.get, "/api/v1/repository/admin/app/logs")
            let kinds = (logs.object["logs"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
            #expect(kinds.contains("add_repo_notification") && kinds.contains("delete_repo_notification") && kinds.contains("reset_repo_notification"))
        }
    }

    @Test func validationErrorsAreClear() async throws {
        // Default configuration: loopback targets are refused.
        try await NotificationFixture.with(.sqlite, configure: { $0.notifications.allowPrivateTargets = false }) { f in
            let url = "http://93.184.216.34/hook"
            let cases: [(String, String)] = [
                (#"{"event":"nope","method":"webhook","config":{"url":"\#(url)"},"eventConfig":{}}"#, "unknown event 'nope'"),
                (#"{"method":"webhook","config":{"url":"\#(url)"},"eventConfig":{}}"#, "'event' is required"),
                (#"{"event":"repo_push","method":"carrier_pigeon","config":{},"eventConfig":{}}"#, "Unable to find method: carrier_pigeon"),
                (#"{"event":"repo_push","method":"webhook","eventConfig":{}}"#, "'config' must be an object"),
                (#"{"event":"repo_push","method":"webhook","config":{},"eventConfig":{}}"#, "Missing webhook URL"),
                (#"{"event":"repo_push","method":"webhook","config":{"url":"ftp://example.com/x"},"eventConfig":{}}"#, "http:// or https://"),
                (#"{"event":"repo_push","method":"webhook","config":{"url":"http://127.0.0.1:8080/x"},"eventConfig":{}}"#, "loopback"),
                (#"{"event":"repo_push","method":"slack","config":{"url":"http://169.254.169.254/x"},"eventConfig":{}}"#, "cloud metadata"),
                (#"{"event":"build_success","method":"webhook","config":{"url":"\#(url)"},"eventConfig":{"ref-regex":"(["}}"#, "'eventConfig.ref-regex' is not a valid regular expression"),
                (#"{"event":"repo_image_expiry","method":"webhook","config":{"url":"\#(url)"},"eventConfig":{}}"#, "'eventConfig.days' is required"),
                (#"{"event":"repo_image_expiry","method":"webhook","config":{"url":"\#(url)"},"eventConfig":{"days":0}}"#, "'eventConfig.days' must be"),
                (#"{"event":"repo_push","method":"webhook","config":{"url":"\#(url)","template":"{not json"},"eventConfig":{}}"#, "not valid JSON"),
                (#"{"event":"repo_push","method":"webhook","config":{"url":"\#(url)","template":"{\"a\":\"${build_id}\"}"},"eventConfig":{}}"#,
                 "references ${build_id}, which the repo_push event does not have"),
                (#"{"event":"repo_push","method":"email","config":{"email":"not an address"},"eventConfig":{}}"#, "not a valid e-mail address"),
                (#"{"event":"repo_push","method":"email","config":{"email":"a@b.c\r\nBcc: x@y.z"},"eventConfig":{}}"#, "not a valid e-mail address"),
                (#"{"event":"repo_push","method":"quay_notification","config":{"target":{"kind":"user","name":"ghost"}},"eventConfig":{}}"#, "Unknown user ghost"),
                (#"{"event":"repo_push","method":"quay_notification","config":{"target":{"kind":"team","name":"owners"}},"eventConfig":{}}"#, "Unknown team owners"),
                (#"{"event":"repo_push","method":"quay_notification","config":{},"eventConfig":{}}"#, "Missing target"),
                (#"{"event":"repo_push","method":"flowdock","config":{},"eventConfig":{}}"#, "Missing Flowdock API Token"),
                (#"{"event":"repo_push","method":"hipchat","config":{"notification_token":"x"},"eventConfig":{}}"#, "Missing Hipchat Room ID"),
                (#"{"event":"repo_push","method":"webhook","config":{"url":"\#(url)","secret":42},"eventConfig":{}}"#, "'config.secret' must be a string"),
            ]
            for (body, message) in cases {
                let r = try await f.send(.post, "/api/v1/repository/admin/app/notification/", body)
                #expect(r.status == .badRequest, "\(body)")
                #expect(r.object["error_type"] as? String == "invalid_request")
                #expect(r.errorMessage.contains(message), "\(body): \(r.errorMessage)")
            }
            // Accepted: every event the reference lists, templates over known (nested) fields, a
            // user target, and days as a string of digits.
            try await f.create(#"{"event":"vulnerability_found","method":"webhook","config":{"url":"\#(url)"},"eventConfig":{"level":1}}"#)
            try await f.create(#"{"event":"repo_mirror_sync_failed","method":"webhook","config":{"url":"\#(url)"},"eventConfig":{}}"#)
            try await f.create(#"{"event":"build_start","method":"webhook","config":{"url":"\#(url)","template":"{\"ref\":\"${trigger_metadata.ref}\",\"t\":\"${docker_tags[0]}\"}"},"eventConfig":{}}"#)
            try await f.create(#"{"event":"repo_push","method":"quay_notification","config":{"target":{"kind":"user","name":"admin"}},"eventConfig":{}}"#)
            try await f.create(#"{"event":"repo_image_expiry","method":"webhook","config":{"url":"\#(url)"},"eventConfig":{"days":"7"}}"#)
            #expect(try await f.notifications.notifications(repositoryID: f.repo.id).count == 5)
        }
    }

    @Test func templatesFillFieldsFromTheEvent() throws {
        let template = try WebhookTemplate(#"{"text":"pushed ${updated_tags} to ${repository}","tags":"${updated_tags}","first":"${updated_tags[0]}","none":"${homepage}!","n":1}"#,
                                           event: "repo_push")
        let body = template.apply(to: ["repository": .string("a/b"), "updated_tags": .strings(["v1", "v2"]), "homepage": .null])
        #expect(body == .object(["text": .string("pushed v1,v2 to a/b"), "tags": .strings(["v1", "v2"]), "first": .string("v1"),
                                 "none": .string("(none)!"), "n": .int(1)]))
    }
}
