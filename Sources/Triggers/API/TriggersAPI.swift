import BuildOrchestrator
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Registry

/// Build triggers (§1.5). Every route needs repository admin, as in Quay.
///
/// | route | requirement |
/// |---|---|
/// | POST /api/v1/repository/{repository}/trigger/ | repository admin (Slipway: scripts create triggers here) |
/// | GET /api/v1/repository/{repository}/trigger/ | repository admin |
/// | GET /api/v1/repository/{repository}/trigger/{trigger_uuid} | repository admin |
/// | PUT /api/v1/repository/{repository}/trigger/{trigger_uuid} | repository admin |
/// | DELETE /api/v1/repository/{repository}/trigger/{trigger_uuid} | repository admin |
/// | POST /api/v1/repository/{repository}/trigger/{trigger_uuid}/activate | repository admin (+ the trigger's creator) |
/// | POST /api/v1/repository/{repository}/trigger/{trigger_uuid}/analyze | repository admin |
/// | POST /api/v1/repository/{repository}/trigger/{trigger_uuid}/start | repository admin |
/// | GET /api/v1/repository/{repository}/trigger/{trigger_uuid}/builds | repository admin |
/// | GET /api/v1/repository/{repository}/trigger/{trigger_uuid}/activity | repository admin (Slipway: recent webhooks and why they built or not) |
struct TriggersAPI: Sendable {
    let services: RegistryServices
    let builder: TriggerBuilder
    let views: TriggerViews
    let lifecycle: TriggerLifecycle
    let activityLog: TriggerActivityLog

    func register(_ api: APIRoutes) {
        let t = "/api/v1/repository/{repository}/trigger"
        api.add(.post, t + "/", .repository(.admin)) { try await create($0) }
        api.add(.get, t + "/", .repository(.admin)) { try await list($0) }
        api.add(.get, t + "/{trigger_uuid}", .repository(.admin)) { try await get($0) }
        api.add(.put, t + "/{trigger_uuid}", .repository(.admin)) { try await toggle($0) }
        api.add(.delete, t + "/{trigger_uuid}", .repository(.admin)) { try await delete($0) }
        api.add(.post, t + "/{trigger_uuid}/activate", .repository(.admin)) { try await activate($0) }
        api.add(.post, t + "/{trigger_uuid}/analyze", .repository(.admin)) { try await analyze($0) }
        api.add(.post, t + "/{trigger_uuid}/start", .repository(.admin)) { try await start($0) }
        api.add(.get, t + "/{trigger_uuid}/builds", .repository(.admin)) { try await builds($0) }
        api.add(.get, t + "/{trigger_uuid}/activity", .repository(.admin)) { try await activity($0) }
    }

    /// The trigger named in the path, if it belongs to the path's repository.
    func trigger(_ r: APIRequest) async throws -> BuildTrigger {
        guard let t = try await services.store.trigger(uuid: r.parameter("trigger_uuid")), t.repositoryID == r.repository!.id else {
            throw APIError.notFound("trigger not found")
        }
        return t
    }

    func fullView(_ t: BuildTrigger, _ r: APIRequest) async throws -> [String: EventValue] {
        let fresh = try await lifecycle.refresh(t)
        return try await views.view(fresh, baseURL: r.origin, canAdmin: true, counters: fresh.isActive ? try await lifecycle.counters(fresh) : nil)
    }

    struct CreateBody: Decodable { let service: String }

    func create(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let body = try await r.decode(CreateBody.self)
        guard TriggersModule.supportedServices.contains(body.service) else {
            throw APIError.invalidRequest("unknown service '\(body.service.prefix(64))'; use one of \(TriggersModule.supportedServices.joined(separator: ", "))")
        }
        let t = try await services.store.createTrigger(uuid: UUID().uuidString.lowercased(), repositoryID: r.repository!.id,
                                                       service: body.service, connectedUserID: user.id)
        services.audit.record(.repository("create_repo_trigger", r.repository!, performer: r.actor, ip: r.ip,
                                          ["trigger_id": t.uuid, "service": t.service]))
        return APIResponse.json(try await fullView(t, r), status: .created)
    }

    func list(_ r: APIRequest) async throws -> Response {
        var out: [EventValue] = []
        for t in try await services.store.triggers(repositoryID: r.repository!.id) { out.append(.object(try await fullView(t, r))) }
        return APIResponse.json(["triggers": out])
    }

    func get(_ r: APIRequest) async throws -> Response {
        APIResponse.json(try await fullView(try await trigger(r), r))
    }

    struct ToggleBody: Decodable { let enabled: Bool }

    func toggle(_ r: APIRequest) async throws -> Response {
        let t = try await trigger(r)
        let body = try await r.decode(ToggleBody.self)
        guard t.isActive else { throw APIError.invalidRequest("Trigger is not active.") }
        try await services.store.setTriggerEnabled(id: t.id, enabled: body.enabled, reason: body.enabled ? nil : .userToggled)
        services.audit.record(.repository("toggle_repo_trigger", r.repository!, performer: r.actor, ip: r.ip,
                                          ["trigger_id": t.uuid, "service": t.service, "enabled": body.enabled ? "true" : "false"]))
        return APIResponse.json(try await fullView(try await trigger(r), r))
    }

    func delete(_ r: APIRequest) async throws -> Response {
        let t = try await trigger(r)
        try await services.store.deleteTrigger(id: t.id)
        services.audit.record(.repository("delete_repo_trigger", r.repository!, performer: r.actor, ip: r.ip,
                                          ["trigger_id": t.uuid, "service": t.service]))
        return APIResponse.noContent()
    }

    struct ConfigBody: Decodable {
        let config: [String: EventValue]
        let pull_robot: String?
    }

    func activate(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let repo = r.repository!
        let t = try await trigger(r)
        guard !t.isActive else { throw APIError.invalidRequest("Trigger is already active.") }
        // Quay: only the trigger's connected user (who created it) may activate it.
        if let owner = t.connectedUserID, owner != user.id, !user.isSuperuser {
            throw APIError.insufficientScope("only the user who created this trigger can activate it")
        }
        let body = try await r.decode(ConfigBody.self)
        let validated = try TriggerConfigValidation.validate(body.config)
        var robotID: Int64?
        if let name = body.pull_robot, !name.isEmpty {
            switch try await services.checkPullRobot(name, repository: repo, caller: user) {
            case .ok(let robot): robotID = robot.id
            case .notFound(let message): throw APIError.notFound(message)
            case .forbidden(let message): throw APIError.insufficientScope(message)
            }
        }
        let key = DeployKey.generate(comment: "slipway-trigger-\(t.uuid.prefix(8))@\(repo.namespace)/\(repo.name)")
        let secret = Self.newSecret()
        let box = services.secretBox
        let activated = try await services.store.activateTrigger(
            id: t.id, config: validated.config, publicKey: key.publicKey,
            privateKeySealed: try box.seal(key.privateKey, context: BuildTrigger.sealContext(t.uuid, "deploy-key")),
            urlSecretSealed: try box.seal(secret, context: BuildTrigger.sealContext(t.uuid, "url")),
            signingSecretSealed: try validated.signingSecret.map { try box.seal($0, context: BuildTrigger.sealContext(t.uuid, "signing")) },
            pullRobotID: robotID)
        guard activated else { throw APIError.invalidRequest("Trigger is already active.") }
        services.audit.record(.repository("setup_repo_trigger", repo, performer: r.actor, ip: r.ip,
                                          ["trigger_id": t.uuid, "service": t.service, "config": validated.config.json]))
        return APIResponse.json(try await fullView(try await trigger(r), r))
    }

    /// 32 random bytes, URL-safe base64 without padding (safe in URL user-info).
    static func newSecret() -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        return bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Quay's analyzer reads the Dockerfile through the SCM's API to find a private base image;
    /// Slipway has no SCM API, so it checks the config and lists the robots that could pull a
    /// private base image, and says it cannot look further (`notimplemented`).
    func analyze(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let repo = r.repository!
        _ = try await trigger(r)
        let body = try await r.decode(ConfigBody.self)
        var out: [String: EventValue] = ["namespace": .string(repo.namespace), "name": .string(repo.name)]
        if case .failure(let e) = Result(catching: { () throws(APIError) in try TriggerConfigValidation.validate(body.config) }) {
            out["status"] = .string("error")
            out["message"] = .string(e.detail)
            return APIResponse.json(out)
        }
        var isAdmin = user.id == repo.namespaceID || user.isSuperuser
        if !isAdmin, try await services.store.teamRole(userID: user.id, organizationID: repo.namespaceID) == .admin { isAdmin = true }
        var robots: [EventValue] = []
        if isAdmin {
            for robot in try await services.store.robots(ownerID: repo.namespaceID, limit: 200) {
                robots.append(.object(["name": .string(robot.name), "kind": .string("user"), "is_robot": .bool(true)]))
            }
        }
        out["status"] = .string("notimplemented")
        out["message"] = .string("The Dockerfile is read only when the first build runs; if its base image is private, choose a pull robot.")
        out["is_admin"] = .bool(isAdmin)
        out["robots"] = .array(robots)
        return APIResponse.json(out)
    }

    func start(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        let user = try r.user
        let t = try await lifecycle.refresh(try await trigger(r))
        let body = try await r.decode([String: EventValue].self)
        let metadata = try Self.manualMetadata(body, trigger: t)
        guard t.isActive else { throw APIError.invalidRequest("Trigger is not active.") }
        guard t.enabled else { throw APIError.invalidRequest("Trigger is not enabled.") }
        let origin = TriggerBuilder.Origin(manualUser: user, performer: r.actor, ip: r.ip)
        switch try await builder.start(t, repository: repo, metadata: metadata, origin: origin) {
        case .queueFull:
            return Response(status: .tooManyRequests, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"message":"Maximum queued build rate exceeded."}"#)))
        case .queued(let build):
            try await activityLog.record(triggerID: t.id, claimedRow: nil, TriggerActivity(
                source: "manual", outcome: .queued, reason: "started by \(user.name)", ref: metadata["ref"]?.stringValue,
                commit: metadata["commit"]?.stringValue, buildUUID: build.uuid, createdAt: Clock.nowMillis()))
            return APIResponse.json(try await views.buildView(build, repository: repo, trigger: t), status: .created,
                                    headers: [.location: "/api/v1/repository/\(repo.path)/build/\(build.uuid)/status"])
        }
    }

    /// `{commit_sha?, branch_name?, refs?:{kind, name}}` (no other keys, §1.5) → metadata.
    static func manualMetadata(_ body: [String: EventValue], trigger t: BuildTrigger) throws(APIError) -> [String: EventValue] {
        for key in body.keys where !["commit_sha", "branch_name", "refs"].contains(key) {
            throw APIError.invalidRequest("unknown parameter '\(key.prefix(64))'; use commit_sha, branch_name or refs")
        }
        var meta: [String: EventValue] = [:]
        if let branch = t.config.defaultBranch { meta["default_branch"] = .string(branch) }
        switch body["commit_sha"] {
        case nil, .null?: break
        case .string(let sha)?:
            guard GitRefRules.isCommitID(sha) else { throw APIError.invalidRequest("commit_sha must be a commit id of 7 to 64 hexadecimal digits") }
            meta["commit"] = .string(sha.lowercased())
        default: throw APIError.invalidRequest("commit_sha must be a string")
        }
        var kind: String?
        var name: String?
        switch body["refs"] {
        case nil, .null?: break
        case .object(let o)?:
            guard let k = o["kind"]?.stringValue, k == "branch" || k == "tag" else { throw APIError.invalidRequest("refs.kind must be 'branch' or 'tag'") }
            guard let n = o["name"]?.stringValue else { throw APIError.invalidRequest("refs.name is a required property") }
            kind = k
            name = n
        default: throw APIError.invalidRequest("refs must be an object {kind, name}")
        }
        if name == nil {
            switch body["branch_name"] {
            case nil, .null?: break
            case .string(let n)?: kind = "branch"; name = n
            default: throw APIError.invalidRequest("branch_name must be a string")
            }
        }
        if let name {
            guard GitRefRules.isValidName(name) else { throw APIError.invalidRequest("'\(name.prefix(100))' is not a valid branch or tag name") }
            meta["ref"] = .string((kind == "tag" ? "refs/tags/" : "refs/heads/") + name)
        }
        if meta["commit"] == nil && meta["ref"] == nil {
            if t.service != "custom-git", let branch = t.config.defaultBranch {
                meta["ref"] = .string("refs/heads/" + branch)
            } else {
                throw APIError.invalidRequest("missing required parameter: commit_sha, branch_name or refs")
            }
        }
        return meta
    }

    func builds(_ r: APIRequest) async throws -> Response {
        let t = try await trigger(r)
        let limit = min(max(Int(r.request.uri.queryParameters["limit"].map(String.init) ?? "5") ?? 5, 1), 100)
        var out: [EventValue] = []
        for uuid in try await services.store.triggerBuildUUIDs(triggerID: t.id, limit: limit) {
            guard let b = try await services.store.build(uuid: uuid) else { continue }
            out.append(.object(try await views.buildView(b, repository: r.repository!, trigger: t)))
        }
        return APIResponse.json(["builds": out])
    }

    func activity(_ r: APIRequest) async throws -> Response {
        let t = try await trigger(r)
        let limit = min(max(Int(r.request.uri.queryParameters["limit"].map(String.init) ?? "20") ?? 20, 1), MetadataStore.activityKeep)
        let entries = try await services.store.triggerActivity(triggerID: t.id, limit: limit)
        return APIResponse.json(["activity": EventValue.array(entries.map(TriggerViews.activity))])
    }
}
