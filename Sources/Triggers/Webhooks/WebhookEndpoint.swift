import Accounts
import BuildOrchestrator
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Registry
import SlipwayCore

/// `POST /webhooks/push/trigger/{uuid}` and Quay's legacy `/webhooks/push/{ns}/{repo}/trigger/{uuid}`
/// (the repository part is ignored, as in Quay). The order of checks: unknown trigger (404),
/// credentials (401 missing, 403 wrong), registry/repository read-only (503), inactive or
/// disabled (400), content type (415), body size (413), signature (401/403), duplicate
/// delivery (200, nothing queued), payload (400 naming the field), skip rules (200 with the
/// reason), queue (200 with the build, or 429). Every request that got past the credentials
/// leaves an entry in the trigger's activity, so a push that built nothing can be explained.
struct WebhookEndpoint: Sendable {
    let services: RegistryServices
    let store: TriggerStore
    let builder: TriggerBuilder
    let views: TriggerViews
    let lifecycle: TriggerLifecycle
    let activityLog: TriggerActivityLog

    static let maxBodyBytes = 1 << 20
    static let prefix = "/webhooks/push/"

    func register(_ router: Router<SlipwayRequestContext>) {
        router.post("/webhooks/push/**") { request, context in await handle(request, context) }
    }

    /// The trigger uuid from either path form, or nil.
    static func triggerUUID(path: String) -> String? {
        guard path.hasPrefix(prefix) else { return nil }
        let segments = path.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard segments.count == 2 || segments.count >= 4, segments[segments.count - 2] == "trigger", let uuid = segments.last,
              !uuid.isEmpty, uuid.count <= 64 else { return nil }
        if segments.count >= 4, segments.dropLast(2).contains(where: \.isEmpty) { return nil }
        return uuid
    }

    struct Refusal: Error {
        let status: HTTPResponse.Status
        let message: String
        var headers: HTTPFields = [:]
    }

    func handle(_ request: Request, _ context: SlipwayRequestContext) async -> Response {
        let origin = RequestOrigin(request: request, config: services.config).baseURL
        do {
            return try await process(request, context)
        } catch let r as Refusal {
            var response = APIError(r.status, Self.errorType(r.status), r.message).response(baseURL: origin)
            for field in r.headers { response.headers.append(field) }
            return response
        } catch let e as APIError {
            return e.response(baseURL: origin)
        } catch let e as DomainError where e.code != .internalFailure {
            return APIError(e).response(baseURL: origin)
        } catch {
            context.logger.error("webhook failed", metadata: ["error": "\(String(reflecting: error))"])
            return APIError.internalError.response(baseURL: origin)
        }
    }

    static func errorType(_ status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: return "invalid_request"
        case 401: return "invalid_token"
        case 403: return "insufficient_scope"
        case 404: return "not_found"
        case 413: return "payload_too_large"
        case 415: return "unsupported_media_type"
        case 429: return "too_many_requests"
        case 503: return "service_unavailable"
        default: return "error"
        }
    }

    private func process(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        // One read brings the trigger, its repository and its failure counters' input.
        guard let uuid = Self.triggerUUID(path: request.uri.path),
              let (stored, repository, finalPhases) = try await store.webhookTarget(uuid: uuid, phaseLimit: TriggerLifecycle.phaseLimit)
        else {
            throw Refusal(status: .notFound, message: "no such build trigger")
        }
        var trigger = stored
        // Credentials first: nothing else about the trigger is revealed without them.
        guard trigger.isActive, let secret = views.urlSecret(trigger) else {
            throw Refusal(status: .badRequest, message: "this build trigger is not activated yet")
        }
        switch WebhookAuth.checkSecret(request, expected: secret) {
        case .ok: break
        case .missing(let m): throw Refusal(status: .unauthorized, message: m, headers: [.wwwAuthenticate: #"Basic realm="slipway-webhook""#])
        case .wrong(let m): throw Refusal(status: .forbidden, message: m)
        }
        let deliveryID = Self.deliveryID(request)
        var activity = TriggerActivity(source: "webhook", outcome: .refused, reason: nil, ref: nil, commit: nil, buildUUID: nil,
                                       createdAt: Clock.nowMillis())
        var claimed: Int64?
        func refuse(_ status: HTTPResponse.Status, _ message: String) async throws -> Refusal {
            activity.reason = message
            try await activityLog.record(triggerID: trigger.id, claimedRow: claimed, activity)
            return Refusal(status: status, message: message)
        }

        guard repository.state != .markedForDeletion else {
            throw Refusal(status: .notFound, message: "no such build trigger")
        }
        if services.config.registry.readOnly || repository.state != .normal {
            throw Refusal(status: .serviceUnavailable, message: "Repository is in read only or mirror mode: \(repository.state.rawValue)")
        }
        trigger = try await lifecycle.refresh(trigger, counters: TriggerLifecycle.counters(finalPhasesNewestFirst: finalPhases))
        guard trigger.enabled else {
            throw try await refuse(.badRequest, "This build trigger is currently disabled. Please re-enable to continue."
                                   + (trigger.disabledReason.map { " (disabled: \($0.rawValue))" } ?? ""))
        }
        guard Self.isJSON(request.headers[.contentType]) else {
            throw try await refuse(.unsupportedMediaType,
                                   "the webhook needs Content-Type: application/json (got \(request.headers[.contentType].map { "'\($0.prefix(80))'" } ?? "none"))")
        }
        var req = request
        let buffer: ByteBuffer
        do {
            buffer = try await req.collectBody(upTo: Self.maxBodyBytes)
        } catch {
            throw try await refuse(.contentTooLarge, "the webhook body is larger than \(Self.maxBodyBytes) bytes")
        }
        let body = Array(buffer.readableBytesView)
        if let sealed = trigger.signingSecretSealed {
            let signing = try services.secretBox.open(sealed, context: BuildTrigger.sealContext(trigger.uuid, "signing"))
            switch WebhookAuth.checkSignature(request, body: body, secret: signing) {
            case .ok: break
            case .missing(let m):
                activity.reason = m
                try await activityLog.record(triggerID: trigger.id, claimedRow: nil, activity)
                throw Refusal(status: .unauthorized, message: m)
            case .wrong(let m): throw try await refuse(.forbidden, m)
            }
        }
        if let deliveryID {
            claimed = try await store.claimDelivery(triggerID: trigger.id, deliveryID: deliveryID, source: "webhook")
            if claimed == nil {
                let earlier = try await store.deliveryActivity(triggerID: trigger.id, deliveryID: deliveryID)
                return Self.answer(["status": .string("duplicate"),
                                    "message": .string("delivery \(deliveryID) was received before; nothing new was queued"),
                                    "build_id": earlier?.buildUUID.map(EventValue.string) ?? .null])
            }
        }
        do {
            return try await build(trigger, repository: repository, body: body, request: request, context: context,
                                   activity: &activity, claimed: claimed)
        } catch let refusal as Refusal {
            throw refusal
        } catch {
            // Let the sender's retry be processed: it is not a duplicate of a delivery that failed.
            if let claimed { try? await store.releaseDelivery(row: claimed) }
            throw error
        }
    }

    private func build(_ trigger: BuildTrigger, repository: Repository, body: [UInt8], request: Request, context: SlipwayRequestContext,
                       activity: inout TriggerActivity, claimed: Int64?) async throws -> Response {
        let headers = WebhookPayload.Headers(
            githubEvent: request.headers[HTTPField.Name("X-GitHub-Event")!], gitlabEvent: request.headers[HTTPField.Name("X-Gitlab-Event")!],
            bitbucketEvent: request.headers[HTTPField.Name("X-Event-Key")!])
        let outcome: WebhookPayload.Outcome
        do {
            outcome = try WebhookPayload.parse(body, headers: headers, defaultBranch: trigger.config.defaultBranch)
        } catch {
            activity.reason = error.message
            try await activityLog.record(triggerID: trigger.id, claimedRow: claimed, activity)
            throw Refusal(status: .badRequest, message: error.message)
        }
        let metadata: [String: EventValue]
        switch outcome {
        case .skip(let reason):
            activity.outcome = .skipped
            activity.reason = reason
            try await activityLog.record(triggerID: trigger.id, claimedRow: claimed, activity)
            return Self.answer(["status": .string("skipped"), "message": .string(reason)])
        case .build(let m):
            metadata = m
        }
        activity.ref = metadata["ref"]?.stringValue
        activity.commit = metadata["commit"]?.stringValue
        if let reason = SkipRules.reason(config: trigger.config, metadata: metadata) {
            activity.outcome = .skipped
            activity.reason = reason
            try await activityLog.record(triggerID: trigger.id, claimedRow: claimed, activity)
            return Self.answer(["status": .string("skipped"), "message": .string("no build: \(reason)")])
        }
        let origin = TriggerBuilder.Origin(manualUser: nil, performer: nil, ip: context.clientIP(request))
        switch try await builder.start(trigger, repository: repository, metadata: metadata, origin: origin) {
        case .queueFull:
            if let claimed { try? await store.releaseDelivery(row: claimed) }
            activity.reason = "the namespace's build queue is full"
            try await activityLog.record(triggerID: trigger.id, claimedRow: nil, activity)
            return BuildQueueFull.response(retryAfterSeconds: 30)
        case .queued(let build):
            activity.outcome = .queued
            activity.buildUUID = build.uuid
            try await activityLog.record(triggerID: trigger.id, claimedRow: claimed, activity)
            return Self.answer(["status": .string("queued"), "message": .string("build \(build.uuid) queued"), "build_id": .string(build.uuid),
                                "tags": .strings(build.tags), "commit": metadata["commit"] ?? .null, "ref": metadata["ref"] ?? .null])
        }
    }

    static func answer(_ body: [String: EventValue]) -> Response {
        APIResponse.json(body)
    }

    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        if contentType == "application/json" { return true }  // what senders send, without the parsing below
        let media = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        return media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json"))
    }

    /// A sender's per-delivery id (kept across its retries), if it sends one.
    static func deliveryID(_ request: Request) -> String? {
        for name in ["X-GitHub-Delivery", "X-Gitlab-Event-UUID", "X-Request-UUID", "X-Slipway-Delivery"] {
            if let v = request.headers[HTTPField.Name(name)!], !v.isEmpty, v.count <= 128 { return name.lowercased() + ":" + v }
        }
        return nil
    }
}
