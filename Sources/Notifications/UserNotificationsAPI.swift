import Foundation
import Hummingbird
import Registry
import SlipwayCore

/// The signed-in user's in-app notifications (Quay's `UserNotificationList` /
/// `UserNotification`), written by `quay_notification` deliveries.
///
/// | route | requirement |
/// |---|---|
/// | GET /api/v1/user/notifications?page=&limit= | signed in, user:admin → `{"notifications": [...], "additional": bool}` (undismissed, newest first) |
/// | GET /api/v1/user/notifications/{uuid} | signed in, user:admin |
/// | PUT /api/v1/user/notifications/{uuid} `{"dismissed": bool}` | signed in, user:admin |
///
/// Each entry is `{id, organization, kind, created, metadata, dismissed}`: `kind` is the event,
/// `metadata` its payload.
struct UserNotificationsAPI {
    let services: RegistryServices
    let store: NotificationStore

    static let maxLimit = 100

    func register(_ api: APIRoutes) {
        let user = APIRequirement.user(scope: "user:admin")
        api.add(.get, "/api/v1/user/notifications", user) { try await list($0) }
        api.add(.get, "/api/v1/user/notifications/{uuid}", user) { try await get($0) }
        api.add(.put, "/api/v1/user/notifications/{uuid}", user) { try await update($0) }
    }

    static func view(_ n: UserNotification) -> EventValue {
        .object([
            "id": .string(n.uuid), "organization": n.organization.map(EventValue.string) ?? .null, "kind": .string(n.kind),
            "created": .string(APIDates.rfc2822(millis: n.createdAt)), "metadata": n.metadata, "dismissed": .bool(n.dismissed),
        ])
    }

    static func intParameter(_ r: APIRequest, _ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = r.request.uri.queryParameters[Substring(name)] else { return value }
        guard let n = Int(text), range.contains(n) else {
            throw APIError.invalidRequest("'\(name)' must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    func list(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        // Quay: `page` counts from 0 (1 is also the first page, as peewee's paginate), `limit` defaults to 5.
        let page = max(0, try Self.intParameter(r, "page", default: 0, range: 0...100_000) - 1)
        let limit = try Self.intParameter(r, "limit", default: 5, range: 1...Self.maxLimit)
        var found = try await store.userNotifications(userID: user.id, page: page, limit: limit + 1)
        let more = found.count > limit
        if more { found.removeLast() }
        return APIResponse.json(EventValue.object(["notifications": .array(found.map(Self.view)), "additional": .bool(more)]))
    }

    func get(_ r: APIRequest) async throws -> Response {
        guard let n = try await store.userNotification(uuid: r.parameter("uuid"), userID: try r.user.id) else {
            throw APIError.notFound("notification not found")
        }
        return APIResponse.json(Self.view(n))
    }

    struct UpdateBody: Decodable { let dismissed: Bool? }

    func update(_ r: APIRequest) async throws -> Response {
        let body = try await r.decode(UpdateBody.self)
        guard let n = try await store.setUserNotificationDismissed(uuid: r.parameter("uuid"), userID: try r.user.id,
                                                                             dismissed: body.dismissed ?? false) else {
            throw APIError.notFound("notification not found")
        }
        return APIResponse.json(Self.view(n))
    }
}
