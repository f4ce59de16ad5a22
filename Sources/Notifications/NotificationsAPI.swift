import Accounts
import Audit
import Foundation
import Hummingbird
import Registry
import SlipwayCore

/// Repository notifications (quay-reference §1.10). Every route needs repository **admin**.
///
/// | route | what |
/// |---|---|
/// | POST /api/v1/repository/{repository}/notification/ | create → 201 view |
/// | GET /api/v1/repository/{repository}/notification/ | `{"notifications": [view…]}` |
/// | GET /api/v1/repository/{repository}/notification/{uuid} | view (404 unknown) |
/// | DELETE /api/v1/repository/{repository}/notification/{uuid} | 204 (400 unknown, as Quay) |
/// | POST /api/v1/repository/{repository}/notification/{uuid} | reset `number_of_failures` → 204 |
/// | POST /api/v1/repository/{repository}/notification/{uuid}/test | queue a sample event → `{}` |
/// | GET, POST /api/v1/repository/{repository}/notification | the same without the trailing slash (the guide's curl) |
/// | GET /api/v1/repository/{repository}/authorizedemail/{email} | `{email, repository, namespace, confirmed}` (404 unknown) |
/// | POST /api/v1/repository/{repository}/authorizedemail/{email} | send a verification mail (unless confirmed) |
///
/// The view is Quay's `{uuid, title, event, method, config, event_config, number_of_failures}`
/// plus Slipway's `last_error`, `paused` (failures reached the limit), `unsupported` and
/// `unsupported_reason` (Flowdock, HipChat), `has_secret` (webhook) and `email_confirmed` (email).
struct NotificationsAPI {
    let services: RegistryServices
    let store: NotificationStore
    let dispatcher: NotificationDispatcher

    func register(_ api: APIRoutes) {
        let admin = APIRequirement.repository(.admin)
        let base = "/api/v1/repository/{repository}/notification"
        api.add(.post, base + "/", admin) { try await create($0) }
        api.add(.get, base + "/", admin) { try await list($0) }
        api.add(.post, base, admin) { try await create($0) }
        api.add(.get, base, admin) { try await list($0) }
        api.add(.get, base + "/{uuid}", admin) { try await get($0) }
        api.add(.delete, base + "/{uuid}", admin) { try await delete($0) }
        api.add(.post, base + "/{uuid}", admin) { try await reset($0) }
        api.add(.post, base + "/{uuid}/test", admin) { try await test($0) }
        let email = "/api/v1/repository/{repository}/authorizedemail/{email}"
        api.add(.get, email, admin) { try await getAuthorizedEmail($0) }
        api.add(.post, email, admin) { try await authorizeEmail($0) }
    }

    // MARK: View

    func view(_ n: RepositoryNotification) async throws -> EventValue {
        var v: [String: EventValue] = [
            "uuid": .string(n.uuid), "title": n.title.map(EventValue.string) ?? .null, "event": .string(n.event),
            "method": .string(n.method), "config": .object(n.config), "event_config": .object(n.eventConfig),
            "number_of_failures": .int(Int64(n.numberOfFailures)), "last_error": n.lastError.map(EventValue.string) ?? .null,
            "paused": .bool(n.numberOfFailures >= dispatcher.settings.maxFailures),
        ]
        if let reason = n.methodKind?.unsupportedReason {
            v["unsupported"] = .bool(true)
            v["unsupported_reason"] = .string(reason)
        }
        if n.methodKind == .webhook { v["has_secret"] = .bool(n.secretSealed != nil) }
        if n.methodKind == .email, let email = n.config["email"]?.stringValue {
            v["email_confirmed"] = .bool(try await store.emailAuthorization(repositoryID: n.repositoryID, email: email)?.confirmed ?? false)
        }
        return .object(v)
    }

    // MARK: Handlers

    func create(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        let body = try await r.decode([String: EventValue].self)
        let validated = try await NotificationValidator(services: services).validate(body, repository: repo)
        let stored = try await store.createNotification(validated.new)
        if let email = validated.email {
            // The guide: addresses are verified per repository before anything is delivered to them.
            try await dispatcher.requestEmailAuthorization(repository: repo, email: email, baseURL: r.origin)
        }
        services.auditLog.record(.repository(.addRepoNotification, repo, performer: r.actor, ip: r.ip, [
            "notification_id": stored.uuid, "event": stored.event, "method": stored.method,
        ]))
        return APIResponse.json(try await view(stored), status: .created)
    }

    func list(_ r: APIRequest) async throws -> Response {
        var views: [EventValue] = []
        for n in try await store.notifications(repositoryID: r.repository!.id) { views.append(try await view(n)) }
        return APIResponse.json(EventValue.object(["notifications": .array(views)]))
    }

    func get(_ r: APIRequest) async throws -> Response {
        guard let n = try await store.notification(uuid: r.parameter("uuid"), repositoryID: r.repository!.id) else {
            throw APIError.notFound("No repository notification found for \(r.repository!.path), \(r.parameter("uuid").prefix(64))")
        }
        return APIResponse.json(try await view(n))
    }

    func notFound(_ r: APIRequest) -> APIError {
        // Quay answers unknown notifications on these writes with 400 invalid_request.
        APIError.invalidRequest("No repository notification found for: \(r.repository!.namespace), \(r.repository!.name), \(r.parameter("uuid").prefix(64))")
    }

    func delete(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        guard let n = try await store.deleteNotification(uuid: r.parameter("uuid"), repositoryID: repo.id) else { throw notFound(r) }
        services.auditLog.record(.repository(.deleteRepoNotification, repo, performer: r.actor, ip: r.ip, [
            "notification_id": n.uuid, "event": n.event, "method": n.method,
        ]))
        return APIResponse.noContent()
    }

    func reset(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        guard let n = try await store.resetNotificationFailures(uuid: r.parameter("uuid"), repositoryID: repo.id) else { throw notFound(r) }
        services.auditLog.record(.repository(.resetRepoNotification, repo, performer: r.actor, ip: r.ip, [
            "notification_id": n.uuid, "event": n.event, "method": n.method,
        ]))
        return APIResponse.noContent()
    }

    func test(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        guard let n = try await store.notification(uuid: r.parameter("uuid"), repositoryID: repo.id) else { throw notFound(r) }
        let payload = NotificationCatalog.sample(event: n.event, namespace: repo.namespace, name: repo.name, baseURL: r.origin, eventConfig: n.eventConfig)
        // Pushing its job wakes the dispatcher.
        try await store.queueDelivery(notificationID: n.id, event: n.event, payload: payload, isTest: true)
        return APIResponse.json(EventValue.object([:]))
    }

    // MARK: Authorized e-mail addresses (Quay's `authorizedemail`)

    func emailParameter(_ r: APIRequest) throws -> String {
        let email = r.parameter("email")
        guard NotificationValidator.isValidEmail(email) else { throw APIError.invalidRequest("'\(email.prefix(100))' is not a valid e-mail address") }
        return email
    }

    func emailView(_ repo: Repository, _ email: String, confirmed: Bool) -> EventValue {
        .object(["email": .string(email), "repository": .string(repo.name), "namespace": .string(repo.namespace), "confirmed": .bool(confirmed)])
    }

    func getAuthorizedEmail(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        let email = try emailParameter(r)
        guard let record = try await store.emailAuthorization(repositoryID: repo.id, email: email) else {
            throw APIError.notFound("no authorization for \(email) on \(repo.path)")
        }
        return APIResponse.json(emailView(repo, email, confirmed: record.confirmed))
    }

    func authorizeEmail(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        let email = try emailParameter(r)
        try await dispatcher.requestEmailAuthorization(repository: repo, email: email, baseURL: r.origin)
        let confirmed = try await store.emailAuthorization(repositoryID: repo.id, email: email)?.confirmed ?? false
        return APIResponse.json(emailView(repo, email, confirmed: confirmed))
    }
}
