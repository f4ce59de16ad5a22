import Audit
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SlipwayCore

/// Usage logs (§1.11) for a repository, the signed-in user, or an organization.
///
/// | route | requirement |
/// |---|---|
/// | GET /api/v1/repository/{repository}/logs | repository admin |
/// | GET /api/v1/repository/{repository}/aggregatelogs | repository admin |
/// | GET /api/v1/user/logs | signed in, user:admin |
/// | GET /api/v1/user/aggregatelogs | signed in, user:admin |
/// | GET /api/v1/organization/{orgname}/logs | organization admin |
/// | GET /api/v1/organization/{orgname}/aggregatelogs | organization admin |
struct LogsAPI {
    let services: RegistryServices

    static let pageSize = 20
    static let maxRangeDays: Int64 = 31

    func register(_ api: APIRoutes) {
        api.add(.get, "/api/v1/repository/{repository}/logs", .repository(.admin)) { try await logs($0, .repository($0.repository!.id)) }
        api.add(.get, "/api/v1/repository/{repository}/aggregatelogs", .repository(.admin)) { try await aggregate($0, .repository($0.repository!.id)) }
        api.add(.get, "/api/v1/user/logs", .user(scope: "user:admin")) { try await logs($0, .performer(try $0.user.id)) }
        api.add(.get, "/api/v1/user/aggregatelogs", .user(scope: "user:admin")) { try await aggregate($0, .performer(try $0.user.id)) }
        api.add(.get, "/api/v1/organization/{orgname}/logs", .organizationAdmin) { try await logs($0, .namespace($0.organization!.id)) }
        api.add(.get, "/api/v1/organization/{orgname}/aggregatelogs", .organizationAdmin) { try await aggregate($0, .namespace($0.organization!.id)) }
    }

    /// `starttime`/`endtime` as `%m/%d/%Y` (UTC); defaults: yesterday to today; the end day is
    /// included. Reversed or over-long ranges are a 400.
    static func range(_ r: APIRequest) throws(APIError) -> (Int64, Int64) {
        let q = r.request.uri.queryParameters
        func parse(_ name: Substring) throws(APIError) -> Int64? {
            guard let text = q[name] else { return nil }
            guard let day = APIDates.millis(ofDay: String(describing: text)) else { throw APIError.invalidRequest("\(name) must be a date as MM/DD/YYYY") }
            return day
        }
        let today = (Clock.nowMillis() / 86_400_000) * 86_400_000
        let end = (try parse("endtime") ?? today) + 86_400_000
        let start = try parse("starttime") ?? (today - 86_400_000)
        guard start < end else { throw APIError.invalidRequest("starttime must not be after endtime") }
        guard end - start <= maxRangeDays * 86_400_000 else { throw APIError.invalidRequest("the date range is limited to \(maxRangeDays) days") }
        return (start, end)
    }

    struct LogsView: Encodable {
        let start_time: String
        let end_time: String
        let logs: [UsageLogView]
        let next_page: String?
    }

    func logs(_ r: APIRequest, _ scope: UsageLogScope) async throws -> Response {
        let (start, end) = try Self.range(r)
        var cursor: (Int64, Int64)?
        if let token = r.request.uri.queryParameters["next_page"] {
            let parts = (Data(base64Encoded: String(token)).flatMap { String(data: $0, encoding: .utf8) } ?? "").split(separator: ":")
            guard parts.count == 2, let t = Int64(parts[0]), let id = Int64(parts[1]) else { throw APIError.invalidRequest("invalid next_page token") }
            cursor = (t, id)
        }
        await services.auditLog.flush()
        let performer = r.request.uri.queryParameters["performer"].map(String.init)
        let rows = try await services.auditStore.usageLogs(scope: scope, start: start, end: end, performer: performer, before: cursor, limit: Self.pageSize + 1)
        let page = rows.prefix(Self.pageSize)
        let next = rows.count > Self.pageSize ? page.last.map { Data("\($0.createdAt):\($0.id)".utf8).base64EncodedString() } : nil
        let views = page.map(UsageLogView.init)
        return APIResponse.json(LogsView(start_time: APIDates.rfc2822(millis: start), end_time: APIDates.rfc2822(millis: end), logs: Array(views), next_page: next))
    }

    func aggregate(_ r: APIRequest, _ scope: UsageLogScope) async throws -> Response {
        let (start, end) = try Self.range(r)
        await services.auditLog.flush()
        struct Entry: Encodable { let kind: String; let count: Int64; let datetime: String }
        let rows = try await services.auditStore.aggregateUsageLogs(scope: scope, start: start, end: end)
        return APIResponse.json(["aggregated": rows.map { Entry(kind: $0.kind, count: $0.count, datetime: APIDates.rfc2822(millis: $0.day)) }])
    }
}
