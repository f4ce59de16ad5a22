import Accounts
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SlipwayCore

/// Robot accounts of users and organizations (quay-reference §1.6).
///
/// Routes and the permission each needs (enforced by `APIRoutes`); `{robot_shortname}` is the
/// name without the `<owner>+` prefix:
/// - GET    /api/v1/user/robots                                          signed in, user:admin
/// - GET    /api/v1/user/robots/{robot_shortname}                        signed in, user:admin
/// - PUT    /api/v1/user/robots/{robot_shortname}                        signed in, user:admin (create)
/// - DELETE /api/v1/user/robots/{robot_shortname}                        signed in, user:admin
/// - POST   /api/v1/user/robots/{robot_shortname}/regenerate             signed in, user:admin
/// - GET    /api/v1/user/robots/{robot_shortname}/permissions            signed in, user:admin
/// - PUT    /api/v1/user/robots/{robot_shortname}/permissions            signed in, user:admin (Slipway: bulk set)
/// - the same seven under /api/v1/organization/{orgname}/robots…         organization admin
///
/// A caller only ever reaches the robots of the namespace in the path (their own, or an
/// organization they administer); any other name is a 404.
struct RobotAPI {
    let services: RegistryServices

    static let disabledMessage = "Robot accounts have been disabled. Please contact your administrator."
    static let notFoundMessage = "Could not find robot with specified username"
    static let maxDescriptionLength = 255
    static let maxBulkEntries = 1000

    func register(_ api: APIRoutes) {
        let user = APIRequirement.user(scope: "user:admin")
        let userBase = "/api/v1/user/robots"
        api.add(.get, userBase, user) { try await list($0, owner: try $0.user) }
        api.add(.get, userBase + "/{robot_shortname}", user) { try await get($0, owner: try $0.user) }
        api.add(.put, userBase + "/{robot_shortname}", user) { try await create($0, owner: try $0.user) }
        api.add(.delete, userBase + "/{robot_shortname}", user) { try await delete($0, owner: try $0.user) }
        api.add(.post, userBase + "/{robot_shortname}/regenerate", user) { try await regenerate($0, owner: try $0.user) }
        api.add(.get, userBase + "/{robot_shortname}/permissions", user) { try await permissions($0, owner: try $0.user) }
        api.add(.put, userBase + "/{robot_shortname}/permissions", user) { try await setPermissions($0, owner: try $0.user) }

        let org = "/api/v1/organization/{orgname}/robots"
        api.add(.get, org, .organizationAdmin) { try await list($0, owner: try Self.organization($0)) }
        api.add(.get, org + "/{robot_shortname}", .organizationAdmin) { try await get($0, owner: try Self.organization($0)) }
        api.add(.put, org + "/{robot_shortname}", .organizationAdmin) { try await create($0, owner: try Self.organization($0)) }
        api.add(.delete, org + "/{robot_shortname}", .organizationAdmin) { try await delete($0, owner: try Self.organization($0)) }
        api.add(.post, org + "/{robot_shortname}/regenerate", .organizationAdmin) { try await regenerate($0, owner: try Self.organization($0)) }
        api.add(.get, org + "/{robot_shortname}/permissions", .organizationAdmin) { try await permissions($0, owner: try Self.organization($0)) }
        api.add(.put, org + "/{robot_shortname}/permissions", .organizationAdmin) { try await setPermissions($0, owner: try Self.organization($0)) }
    }

    static func organization(_ r: APIRequest) throws -> Namespace {
        guard let org = r.organization else { throw APIError.notFound("organization not found") }
        return org
    }

    // MARK: Views

    /// One robot, as GET, PUT, and regenerate answer it.
    struct RobotView: Encodable {
        let name: String
        let created: String
        /// null, as Quay, when never used.
        @NullWhenAbsent var lastAccessed: String?
        let description: String
        let token: String?
        let unstructuredMetadata: JSONValue?

        enum CodingKeys: String, CodingKey {
            case name, created, lastAccessed = "last_accessed", description, token, unstructuredMetadata = "unstructured_metadata"
        }
    }

    /// One entry of the robot list.
    struct RobotListEntry: Encodable {
        struct Team: Encodable {
            let name: String
            let avatar: Avatar
        }
        let name: String
        let created: String
        @NullWhenAbsent var lastAccessed: String?
        let teams: [Team]
        let repositories: [String]
        let description: String
        let token: String?

        enum CodingKeys: String, CodingKey { case name, created, lastAccessed = "last_accessed", teams, repositories, description, token }
    }

    struct PermissionsView: Encodable {
        struct Entry: Encodable {
            struct Repo: Encodable { let name: String; let is_public: Bool }
            let repository: Repo
            let role: String
        }
        let permissions: [Entry]
    }

    func view(_ robot: RobotAccount, token: String?, metadata: Bool = true) throws -> RobotView {
        RobotView(name: robot.name, created: Self.rfc2822(millis: robot.createdAt), lastAccessed: robot.lastAccessed.map(Self.rfc2822(millis:)),
                  description: robot.description, token: token,
                  unstructuredMetadata: metadata ? (Self.decodeMetadata(robot.unstructuredMetadata) ?? .object([:])) : nil)
    }

    // MARK: Handlers

    func list(_ r: APIRequest, owner: Namespace) async throws -> Response {
        let query = r.request.uri.queryParameters
        let includePermissions = Self.truthy(query.get("permissions").map { String($0) }, default: false)
        let includeToken = Self.truthy(query.get("token").map { String($0) }, default: true)
        var limit: Int?
        if let raw = query.get("limit") {
            guard let n = Int(raw), n >= 0 else { throw APIError.invalidRequest("limit must be a non-negative integer") }
            limit = n
        }
        let robots = try await services.accounts.robots(ownerID: owner.id, limit: limit)
        let repositories = includePermissions ? try await services.accounts.robotRepositoryNames(ownerID: owner.id) : [:]
        let teams = includePermissions ? try await services.accounts.robotTeamNames(ownerID: owner.id) : [:]
        var entries: [RobotListEntry] = []
        for robot in robots {
            entries.append(RobotListEntry(
                name: robot.name, created: Self.rfc2822(millis: robot.createdAt), lastAccessed: robot.lastAccessed.map(Self.rfc2822(millis:)),
                teams: (teams[robot.id] ?? []).map { .init(name: $0, avatar: .team($0)) },
                repositories: repositories[robot.id] ?? [], description: robot.description,
                token: includeToken ? try services.robotToken(robot) : nil))
        }
        return APIResponse.json(["robots": entries])
    }

    func get(_ r: APIRequest, owner: Namespace) async throws -> Response {
        let robot = try await find(r, owner: owner)
        return APIResponse.json(try view(robot, token: try services.robotToken(robot)))
    }

    struct CreateRobot: Decodable {
        let description: String?
        let unstructured_metadata: JSONValue?
    }

    func create(_ r: APIRequest, owner: Namespace) async throws -> Response {
        if services.config.auth.robotsDisallow {
            throw APIError.invalidRequest("Cannot create robot account. " + Self.disabledMessage)
        }
        let short = r.parameter("robot_shortname")
        guard Names.isValidNamespace(short) else {
            throw APIError.invalidRequest("The name for the robot '\(short.prefix(300))' is invalid: use 2-255 characters of a-z, 0-9 and single '.', '_' or '-' between them")
        }
        let input = try await Self.decodeOptional(CreateRobot.self, r) ?? CreateRobot(description: nil, unstructured_metadata: nil)
        let description = input.description ?? ""
        guard description.count <= Self.maxDescriptionLength else {
            throw APIError.invalidRequest("'description' is too long (maximum \(Self.maxDescriptionLength) characters)")
        }
        var metadata: String?
        if let value = input.unstructured_metadata, value != .null {
            guard case .object = value else { throw APIError.invalidRequest("'unstructured_metadata' must be of type object") }
            metadata = try Self.encodeMetadata(value)
        }
        let (robot, token): (RobotAccount, String)
        do {
            (robot, token) = try await services.createRobot(owner: owner, shortName: short, description: description, unstructuredMetadata: metadata)
        } catch let e as DomainError where e.code == .alreadyExists {
            throw APIError.invalidRequest("Existing robot with name: \(owner.name)+\(short)")
        }
        return APIResponse.json(try view(robot, token: token), status: .created)
    }

    func delete(_ r: APIRequest, owner: Namespace) async throws -> Response {
        let robot = try await find(r, owner: owner)
        guard try await services.accounts.deleteRobot(id: robot.id) else { throw APIError.notFound(Self.notFoundMessage) }
        return APIResponse.noContent()
    }

    func regenerate(_ r: APIRequest, owner: Namespace) async throws -> Response {
        let robot = try await find(r, owner: owner)
        let token = try await services.regenerateRobotToken(robot)
        return APIResponse.json(try view(robot, token: token))
    }

    func permissions(_ r: APIRequest, owner: Namespace) async throws -> Response {
        let robot = try await find(r, owner: owner)
        return try await permissionsResponse(robot)
    }

    func permissionsResponse(_ robot: RobotAccount) async throws -> Response {
        let entries = try await services.accounts.robotPermissions(robotID: robot.id).map {
            PermissionsView.Entry(repository: .init(name: $0.repository, is_public: $0.isPublic), role: $0.role.rawValue)
        }
        return APIResponse.json(PermissionsView(permissions: entries))
    }

    struct BulkPermissions: Decodable {
        struct Entry: Decodable {
            let repository: String
            let role: String
        }
        let permissions: [Entry]
    }

    /// Sets or removes (`none`) the robot's role on many repositories of its namespace at once.
    func setPermissions(_ r: APIRequest, owner: Namespace) async throws -> Response {
        let robot = try await find(r, owner: owner)
        let input = try await r.decode(BulkPermissions.self)
        guard input.permissions.count <= Self.maxBulkEntries else {
            throw APIError.invalidRequest("at most \(Self.maxBulkEntries) permissions per request")
        }
        var changes: [(repository: String, role: Role?)] = []
        for entry in input.permissions {
            guard Names.isValidRepositoryName(entry.repository) else {
                throw APIError.invalidRequest("Invalid repository name: \(entry.repository.prefix(300))")
            }
            if entry.role == "none" {
                changes.append((entry.repository, nil))
            } else if let role = Role(rawValue: entry.role) {
                changes.append((entry.repository, role))
            } else {
                throw APIError.invalidRequest("'\(entry.role.prefix(100))' is not one of ['read', 'write', 'admin', 'none']")
            }
        }
        do {
            try await services.accounts.setRobotPermissions(robotID: robot.id, namespaceID: owner.id, changes: changes)
        } catch let e as DomainError where e.code == .notFound {
            throw APIError.invalidRequest(e.message)
        }
        return try await permissionsResponse(robot)
    }

    /// The robot named in the path, owned by `owner`, or a 404.
    func find(_ r: APIRequest, owner: Namespace) async throws -> RobotAccount {
        let short = r.parameter("robot_shortname")
        guard Names.isValidNamespace(short),
              let robot = try await services.accounts.robot(named: "\(owner.name)+\(short)", ownerID: owner.id) else {
            throw APIError.notFound(Self.notFoundMessage)
        }
        return robot
    }

    // MARK: Helpers

    static func truthy(_ value: String?, default fallback: Bool) -> Bool {
        guard let value else { return fallback }
        return ["true", "1", "yes", "on"].contains(value.lowercased())
    }

    /// Decodes a JSON body that may be absent (Quay's `validate_json_request(optional=True)`).
    static func decodeOptional<T: Decodable>(_ type: T.Type, _ r: APIRequest) async throws -> T? {
        var request = r.request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: 1 << 20)
        } catch {
            throw APIError.invalidRequest("the request body is too large")
        }
        let data = Data(buffer: buffer)
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return nil }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw APIError.invalidRequest(APIError.describe(decoding: error))
        }
    }

    static func encodeMetadata(_ value: JSONValue) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decodeMetadata(_ text: String?) -> JSONValue? {
        guard let text else { return nil }
        return try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// Quay's `format_date`: RFC 2822 in UTC, e.g. `Tue, 04 Aug 2026 10:00:00 -0000`.
    static func rfc2822(millis: Int64) -> String {
        var seconds = time_t(millis / 1000)
        var t = tm()
        gmtime_r(&seconds, &t)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(t.tm_wday)]), \(two(t.tm_mday)) \(months[Int(t.tm_mon)]) \(t.tm_year + 1900) "
            + "\(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec)) -0000"
    }

    /// Any JSON value, for `unstructured_metadata`.
    enum JSONValue: Codable, Equatable, Sendable {
        case null
        case bool(Bool)
        case int(Int64)
        case double(Double)
        case string(String)
        case array([JSONValue])
        case object([String: JSONValue])

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let v = try? c.decode(Bool.self) { self = .bool(v) }
            else if let v = try? c.decode(Int64.self) { self = .int(v) }
            else if let v = try? c.decode(Double.self) { self = .double(v) }
            else if let v = try? c.decode(String.self) { self = .string(v) }
            else if let v = try? c.decode([JSONValue].self) { self = .array(v) }
            else { self = .object(try c.decode([String: JSONValue].self)) }
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .null: try c.encodeNil()
            case .bool(let v): try c.encode(v)
            case .int(let v): try c.encode(v)
            case .double(let v): try c.encode(v)
            case .string(let v): try c.encode(v)
            case .array(let v): try c.encode(v)
            case .object(let v): try c.encode(v)
            }
        }
    }
}

/// Robot tokens: 64 characters of `[A-Z0-9]`, as Quay.
public enum RobotTokens {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        return String((0..<64).map { _ in alphabet[Int(rng.next(upperBound: UInt32(alphabet.count)))] })
    }
}

extension RegistryServices {
    /// Creates a robot `<owner>+<shortName>` with a fresh token; returns the robot and the token.
    /// Callers validate the short name and the `auth.robotsDisallow` switch.
    public func createRobot(owner: Namespace, shortName: String, description: String = "",
                            unstructuredMetadata: String? = nil) async throws -> (RobotAccount, String) {
        let name = "\(owner.name)+\(shortName)"
        let token = RobotTokens.generate()
        let robot = try await accounts.createRobot(ownerID: owner.id, name: name, description: description, unstructuredMetadata: unstructuredMetadata,
                                                tokenSealed: try secretBox.seal(token, context: RobotAccount.sealContext(name: name)),
                                                tokenHash: APITokens.hash(token))
        return (robot, token)
    }

    /// The robot's current token, unsealed.
    public func robotToken(_ robot: RobotAccount) throws -> String? {
        guard let sealed = robot.tokenSealed else { return nil }
        return try secretBox.open(sealed, context: robot.sealContext)
    }

    /// Replaces the robot's token; the old one stops working at once.
    public func regenerateRobotToken(_ robot: RobotAccount) async throws -> String {
        let token = RobotTokens.generate()
        try await accounts.replaceRobotToken(id: robot.id, tokenSealed: try secretBox.seal(token, context: robot.sealContext),
                                          tokenHash: APITokens.hash(token))
        return token
    }

    /// The robot `name` if `token` is its current token. Records the access (best effort, at
    /// most once a minute per robot).
    public func authenticateRobot(name: String, token: String) async throws -> RobotAccount? {
        guard name.contains("+"), name.utf8.count <= 600, token.utf8.count <= 256,
              let (robot, storedHash) = try await accounts.robotForLogin(named: name) else { return nil }
        let presentedHash = APITokens.hash(token)
        let presented = Array(presentedHash.utf8)
        let stored = Array(storedHash.utf8)
        var difference: UInt8 = presented.count == stored.count ? 0 : 1
        for i in presented.indices where i < stored.count { difference |= presented[i] ^ stored[i] }
        // Not its own token: perhaps a short-lived one a federated OIDC token was exchanged for.
        if difference != 0 {
            guard try await accounts.hasFederatedRobotToken(robotID: robot.id, tokenHash: presentedHash) else { return nil }
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        if robot.lastAccessed.map({ now - $0 > 60_000 }) ?? true {
            try? await accounts.touchRobot(id: robot.id)
        }
        return robot
    }
}
