import Accounts
import Audit
import BuildOrchestrator
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Registry
import SlipwayCore

/// Build triggers (§1.5). Every route needs repository admin, as in Quay.
///
/// | route | requirement |
/// |---|---|
/// | POST /api/v1/repository/{repository}/trigger/ | repository admin (Slipway: scripts create triggers here) |
/// | GET /api/v1/repository/{repository}/trigger/ | repository admin |
/// | GET /api/v1/repository/{repository}/trigger/{trigger_uuid} | repository admin |
/// | PUT /api/v1/repository/{repository}/trigger/{trigger_uuid} | repository admin (Slipway: also `config` and `pull_robot`) |
/// | DELETE /api/v1/repository/{repository}/trigger/{trigger_uuid} | repository admin |
/// | POST /api/v1/repository/{repository}/trigger/{trigger_uuid}/activate | repository admin (+ the trigger's creator) |
/// | POST /api/v1/repository/{repository}/trigger/{trigger_uuid}/analyze | repository admin |
/// | POST /api/v1/repository/{repository}/trigger/{trigger_uuid}/start | repository admin |
/// | GET /api/v1/repository/{repository}/trigger/{trigger_uuid}/builds | repository admin |
/// | GET /api/v1/repository/{repository}/trigger/{trigger_uuid}/activity | repository admin (Slipway: recent webhooks and why they built or not) |
/// | POST /api/v1/repository/{repository}/trigger/{trigger_uuid}/hostkeys | repository admin (Slipway: trust the git server's ssh host key) |
struct TriggersAPI: Sendable {
    let services: RegistryServices
    let store: TriggerStore
    /// Builds of the trigger, for its build list.
    let builds: BuildStore
    let builder: TriggerBuilder
    let views: TriggerViews
    let lifecycle: TriggerLifecycle
    let activityLog: TriggerActivityLog
    let hostKeys: TriggerHostKeys
    let manualRefs: ManualRunRefs

    func register(_ api: APIRoutes) {
        let t = "/api/v1/repository/{repository}/trigger"
        api.add(.post, t + "/", .repository(.admin)) { try await create($0) }
        api.add(.get, t + "/", .repository(.admin)) { try await list($0) }
        api.add(.get, t + "/{trigger_uuid}", .repository(.admin)) { try await get($0) }
        api.add(.put, t + "/{trigger_uuid}", .repository(.admin)) { try await update($0) }
        api.add(.delete, t + "/{trigger_uuid}", .repository(.admin)) { try await delete($0) }
        api.add(.post, t + "/{trigger_uuid}/activate", .repository(.admin)) { try await activate($0) }
        api.add(.post, t + "/{trigger_uuid}/analyze", .repository(.admin)) { try await analyze($0) }
        api.add(.post, t + "/{trigger_uuid}/start", .repository(.admin)) { try await start($0) }
        api.add(.get, t + "/{trigger_uuid}/builds", .repository(.admin)) { try await builds($0) }
        api.add(.get, t + "/{trigger_uuid}/activity", .repository(.admin)) { try await activity($0) }
        api.add(.post, t + "/{trigger_uuid}/hostkeys", .repository(.admin)) { try await trustHostKeys($0) }
    }

    /// The trigger named in the path, if it belongs to the path's repository.
    func trigger(_ r: APIRequest) async throws -> BuildTrigger {
        guard let t = try await store.trigger(uuid: r.parameter("trigger_uuid")), t.repositoryID == r.repository!.id else {
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
        let t = try await store.createTrigger(uuid: UUID().uuidString.lowercased(), repositoryID: r.repository!.id,
                                                       service: body.service, connectedUserID: user.id)
        services.auditLog.record(.repository(.createRepoTrigger, r.repository!, performer: r.actor, ip: r.ip,
                                          ["trigger_id": t.uuid, "service": t.service]))
        return APIResponse.json(try await fullView(t, r), status: .created)
    }

    func list(_ r: APIRequest) async throws -> Response {
        var out: [EventValue] = []
        for t in try await store.triggers(repositoryID: r.repository!.id) { out.append(.object(try await fullView(t, r))) }
        return APIResponse.json(["triggers": out])
    }

    func get(_ r: APIRequest) async throws -> Response {
        APIResponse.json(try await fullView(try await trigger(r), r))
    }

    /// Quay's toggle (`{"enabled": bool}`), and Slipway's edit of an active trigger: `config`
    /// (validated exactly as at activation) and `pull_robot` (a name, or null for none). The
    /// deploy key and the webhook URL stay as they are, so the git server needs no change.
    func update(_ r: APIRequest) async throws -> Response {
        let t = try await trigger(r)
        let body = try await r.decode([String: EventValue].self)
        for key in body.keys where !["enabled", "config", "pull_robot"].contains(key) {
            throw APIError.invalidRequest("unknown field '\(key.prefix(64))'; use enabled, config or pull_robot")
        }
        guard !body.isEmpty else { throw APIError.invalidRequest("nothing to change: send enabled, config or pull_robot") }
        var enabled: Bool?
        switch body["enabled"] {
        case nil: break
        case .bool(let b)?: enabled = b
        default: throw APIError.invalidRequest("enabled must be a boolean")
        }
        guard t.isActive else { throw APIError.invalidRequest("Trigger is not active.") }
        var change = TriggerStore.TriggerUpdate()
        var changed: [String: String] = ["trigger_id": t.uuid, "service": t.service]
        if let raw = body["config"] {
            guard case .object(let object) = raw else { throw APIError.invalidRequest("config must be an object") }
            var validated = try TriggerConfigValidation.validate(object)
            validated.config.cacheRepository = try await cacheRepository(validated.config, r)
            change.config = validated.config
            if let secrets = validated.buildSecrets {
                change.buildSecretsSealed = .some(try BuildTrigger.sealBuildSecrets(secrets, uuid: t.uuid, box: services.secretBox))
            } else {
                // A config without `build_secrets` (for example the one GET returned) keeps them.
                change.config?.buildSecretIDs = t.config.buildSecretIDs
            }
            if let secret = validated.signingSecret {
                change.signingSecretSealed = try services.secretBox.seal(secret, context: BuildTrigger.sealContext(t.uuid, "signing"))
            }
            let keys = await hostKeys.keys(for: validated.config, pasted: validated.pastedHostKeys, current: t.hostKeys)
            if keys != t.hostKeys { change.hostKeys = .some(keys) }
            changed["config"] = validated.config.json
        }
        if let raw = body["pull_robot"] {
            switch raw {
            case .null: change.pullRobotID = .some(nil)
            case .string(let name): change.pullRobotID = .some(try await pullRobotID(name, r))
            default: throw APIError.invalidRequest("pull_robot must be a robot name or null")
            }
            changed["pull_robot"] = raw.stringValue ?? ""
        }
        try await store.updateTrigger(id: t.id, change)
        if change.config != nil || change.pullRobotID != nil {
            services.auditLog.record(.repository(.updateRepoTrigger, r.repository!, performer: r.actor, ip: r.ip, changed))
        }
        if let enabled {
            try await store.setTriggerEnabled(id: t.id, enabled: enabled, reason: enabled ? nil : .userToggled)
            services.auditLog.record(.repository(.toggleRepoTrigger, r.repository!, performer: r.actor, ip: r.ip,
                                              ["trigger_id": t.uuid, "service": t.service, "enabled": enabled ? "true" : "false"]))
        }
        return APIResponse.json(try await fullView(try await trigger(r), r))
    }

    /// The id of the robot `name` names, if the caller may give it to this repository's builds
    /// (nil for an empty name).
    func pullRobotID(_ name: String, _ r: APIRequest) async throws -> Int64? {
        guard !name.isEmpty else { return nil }
        switch try await services.checkPullRobot(name, repository: r.repository!, caller: try r.user) {
        case .ok(let robot): return robot.id
        case .notFound(let message): throw APIError.notFound(message)
        case .forbidden(let message): throw APIError.insufficientScope(message)
        }
    }

    /// `POST .../hostkeys`: trust the git server's ssh host key. `{"known_hosts": "..."}` pins the
    /// pasted lines; otherwise the server reads the keys the git server presents now and pins
    /// them, if one has the `fingerprint` given (the one a failed build named); without a
    /// fingerprint, whatever the server presents is trusted (trust on first use, again).
    func trustHostKeys(_ r: APIRequest) async throws -> Response {
        let t = try await trigger(r)
        struct Body: Decodable { let fingerprint: String?; let known_hosts: String? }
        let body = try await r.decode(Body.self)
        guard let source = t.config.buildSource, let endpoint = SSHEndpoint.parse(source) else {
            throw APIError.invalidRequest("this trigger's build_source is not an ssh URL; only ssh clones check host keys")
        }
        let pins: PinnedHostKeys
        if let lines = body.known_hosts, !lines.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            pins = PinnedHostKeys(endpoint: endpoint.description, keys: try KnownHostsLines.parse(lines, field: "known_hosts"), source: .pasted)
        } else {
            let scanned = await hostKeys.scan(endpoint, source: .accepted)
            guard scanned.isTrusting else {
                throw APIError.invalidRequest("cannot read the ssh host key of \(endpoint): \(scanned.error ?? "no key"); nothing was changed "
                                              + "(paste the server's known_hosts lines as known_hosts instead)")
            }
            if let wanted = body.fingerprint?.trimmingCharacters(in: .whitespaces), !wanted.isEmpty,
               !scanned.keys.contains(where: { $0.fingerprint == wanted || $0.fingerprint == "SHA256:" + wanted }) {
                throw APIError.invalidRequest("\(endpoint) presents \(scanned.keys.map(\.description).joined(separator: ", ")); "
                                              + "none has the fingerprint \(wanted.prefix(100)), so nothing was changed")
            }
            pins = scanned
        }
        try await store.setTriggerHostKeys(id: t.id, pins)
        services.auditLog.record(.repository(.updateRepoTrigger, r.repository!, performer: r.actor, ip: r.ip, [
            "trigger_id": t.uuid, "service": t.service, "ssh_host_keys": pins.keys.map(\.description).joined(separator: ", "),
        ]))
        return APIResponse.json(try await fullView(try await trigger(r), r))
    }

    func delete(_ r: APIRequest) async throws -> Response {
        let t = try await trigger(r)
        try await store.deleteTrigger(id: t.id)
        services.auditLog.record(.repository(.deleteRepoTrigger, r.repository!, performer: r.actor, ip: r.ip,
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
        var validated = try TriggerConfigValidation.validate(body.config)
        validated.config.cacheRepository = try await cacheRepository(validated.config, r)
        let robotID = try await body.pull_robot.asyncMapValue { try await pullRobotID($0, r) } ?? nil
        let pins = await hostKeys.keys(for: validated.config, pasted: validated.pastedHostKeys, current: t.hostKeys)
        let key = DeployKey.generate(comment: "slipway-trigger-\(t.uuid.prefix(8))@\(repo.namespace)/\(repo.name)")
        let secret = Self.newSecret()
        let box = services.secretBox
        let activated = try await store.activateTrigger(
            id: t.id, config: validated.config, publicKey: key.publicKey,
            privateKeySealed: try box.seal(key.privateKey, context: BuildTrigger.sealContext(t.uuid, "deploy-key")),
            urlSecretSealed: try box.seal(secret, context: BuildTrigger.sealContext(t.uuid, "url")),
            signingSecretSealed: try validated.signingSecret.map { try box.seal($0, context: BuildTrigger.sealContext(t.uuid, "signing")) },
            pullRobotID: robotID, hostKeys: pins,
            buildSecretsSealed: try BuildTrigger.sealBuildSecrets(validated.buildSecrets ?? [:], uuid: t.uuid, box: box))
        guard activated else { throw APIError.invalidRequest("Trigger is already active.") }
        services.auditLog.record(.repository(.setupRepoTrigger, repo, performer: r.actor, ip: r.ip,
                                          ["trigger_id": t.uuid, "service": t.service, "config": validated.config.json]))
        return APIResponse.json(try await fullView(try await trigger(r), r))
    }

    /// The config's `cache_repository` as `namespace/name`, if the caller may write to it (the
    /// builds then use the trigger's connected user's access, checked again at each lease).
    private func cacheRepository(_ config: TriggerConfig, _ r: APIRequest) async throws -> String? {
        guard let name = config.cacheRepository else { return nil }
        do {
            return try await LayerCacheRepository.resolve(name, target: r.repository!, user: try r.user, accounts: services.accounts).description
        } catch let error as BuildInputError {
            throw APIError.invalidRequest("config.\(error.message)")
        }
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
        let t = try await trigger(r)
        let body = try await r.decode(ConfigBody.self)
        var out: [String: EventValue] = ["namespace": .string(repo.namespace), "name": .string(repo.name)]
        let validated: TriggerConfigValidation.Validated
        switch Result(catching: { () throws(DomainError) in try TriggerConfigValidation.validate(body.config) }) {
        case .failure(let e):
            out["status"] = .string("error")
            out["message"] = .string(e.message)
            return APIResponse.json(out)
        case .success(let v):
            validated = v
        }
        // The git server's host key is read here (for the wizard's review) and kept for the
        // activation that follows; an active trigger's keys change only through PUT or hostkeys.
        out["ssh_host_keys"] = .null
        if let pins = await hostKeys.keys(for: validated.config, pasted: validated.pastedHostKeys, current: t.hostKeys) {
            if !t.isActive, pins != t.hostKeys { try await store.setTriggerHostKeys(id: t.id, pins) }
            out["ssh_host_keys"] = pins.view
        }
        var isAdmin = user.id == repo.namespaceID || user.isSuperuser
        if !isAdmin, try await services.accounts.teamRole(userID: user.id, organizationID: repo.namespaceID) == .admin { isAdmin = true }
        var robots: [EventValue] = []
        if isAdmin {
            for robot in try await services.accounts.robots(ownerID: repo.namespaceID, limit: 200) {
                robots.append(.object(["name": .string(robot.name), "kind": .string("user"), "is_robot": .bool(true)]))
            }
        }
        out["status"] = .string("notimplemented")
        out["message"] = .string("The Dockerfile is read only when the first build runs; if its base image is private (every push creates a "
                                 + "private repository), choose a pull robot with read access to it.")
        out["is_admin"] = .bool(isAdmin)
        out["robots"] = .array(robots)
        return APIResponse.json(out)
    }

    func start(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        let user = try r.user
        let t = try await lifecycle.refresh(try await trigger(r))
        let body = try await r.decode([String: EventValue].self)
        var metadata = try Self.manualMetadata(body, trigger: t)
        guard t.isActive else { throw APIError.invalidRequest("Trigger is not active.") }
        guard t.enabled else { throw APIError.invalidRequest("Trigger is not enabled.") }
        // A branch or tag becomes its commit now, so the tags follow the trigger's rules.
        metadata = try await manualRefs.resolve(t, metadata: metadata)
        let origin = TriggerBuilder.Origin(manualUser: user, performer: r.actor, ip: r.ip)
        switch try await builder.start(t, repository: repo, metadata: metadata, origin: origin) {
        case .queueFull:
            return BuildQueueFull.response()
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
        for uuid in try await store.triggerBuildUUIDs(triggerID: t.id, limit: limit) {
            guard let b = try await builds.build(uuid: uuid) else { continue }
            out.append(.object(try await views.buildView(b, repository: r.repository!, trigger: t)))
        }
        return APIResponse.json(["builds": out])
    }

    func activity(_ r: APIRequest) async throws -> Response {
        let t = try await trigger(r)
        let limit = min(max(Int(r.request.uri.queryParameters["limit"].map(String.init) ?? "20") ?? 20, 1), TriggerStore.activityKeep)
        let entries = try await store.triggerActivity(triggerID: t.id, limit: limit)
        return APIResponse.json(["activity": EventValue.array(entries.map(TriggerViews.activity))])
    }
}
