import Accounts
import Audit
import BuildProtocol
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OutboundHTTP
import Registry

/// Builds (§1.4) and file drops.
///
/// | route | requirement |
/// |---|---|
/// | POST /api/v1/repository/{repository}/build/ | repository write |
/// | GET /api/v1/repository/{repository}/build/ | repository read |
/// | GET /api/v1/repository/{repository}/build/{build_uuid} | repository read |
/// | GET /api/v1/repository/{repository}/build/{build_uuid}/status | repository read |
/// | GET /api/v1/repository/{repository}/build/{build_uuid}/logs | repository write (Quay: readers only with READER_BUILD_LOGS) |
/// | GET /api/v1/repository/{repository}/build/{build_uuid}/logs/text | repository write (plain-text download) |
/// | DELETE /api/v1/repository/{repository}/build/{build_uuid} | repository admin |
/// | POST /api/v1/filedrop/ | signed in, repo:write |
struct BuildsAPI {
    let services: RegistryServices
    let store: BuildStore
    let queue: BuildQueue
    let sources: any BuildSourceSecrets
    let uploadKeys: FileDropUploadKeys

    func register(_ api: APIRoutes) {
        let b = "/api/v1/repository/{repository}/build"
        api.add(.post, b + "/", .repository(.write)) { try await start($0) }
        api.add(.get, b + "/", .repository(.read)) { try await list($0) }
        api.add(.get, b + "/{build_uuid}", .repository(.read)) { try await get($0) }
        api.add(.get, b + "/{build_uuid}/status", .repository(.read)) { try await get($0) }
        api.add(.get, b + "/{build_uuid}/logs", .repository(.write)) { try await logs($0) }
        api.add(.get, b + "/{build_uuid}/logs/text", .repository(.write)) { try await logText($0) }
        api.add(.delete, b + "/{build_uuid}", .repository(.admin)) { try await cancel($0) }
        api.add(.post, "/api/v1/filedrop/", .user(scope: "repo:write")) { try await fileDrop($0) }
    }

    struct StartBody: Decodable {
        let file_id: String?
        let archive_url: String?
        let subdirectory: String?
        let dockerfile_path: String?
        let context: String?
        let docker_tags: [String]?
        let pull_robot: String?
        /// Slipway's additions (#18): `--build-arg`s and secrets for `RUN --mount=type=secret`.
        let build_args: [String: String]?
        let build_secrets: [String: String]?
        /// A repository of the namespace that keeps intermediate layers between builds.
        let cache_repository: String?
        /// Slipway's addition (#18): `os/arch[/variant]` platforms to build into one image index.
        let platforms: [String]?
    }

    func start(_ r: APIRequest) async throws -> Response {
        let repo = r.repository!
        let user = try r.user
        let body = try await r.decode(StartBody.self)
        let inputs: BuildInputs
        let platforms: [String]
        do {
            inputs = try BuildInputs.validated(arguments: body.build_args, secrets: body.build_secrets)
            platforms = try BuildPlatforms.validated(body.platforms)
        } catch {
            throw APIError.invalidRequest(error.message)
        }
        var pullRobot: RobotAccount?
        if let name = body.pull_robot, !name.isEmpty {
            switch try await services.checkPullRobot(name, repository: repo, caller: user) {
            case .ok(let robot): pullRobot = robot
            case .notFound(let message): throw APIError.invalidRequest(message)
            case .forbidden(let message): throw APIError.insufficientScope(message)
            }
        }
        var sourceKind: String
        var displayName: String
        if let fileID = body.file_id {
            // A drop is its creator's: anyone else gets the answer an unknown id gets (Quay's
            // wording), whatever repositories they may build.
            guard let drop = try await store.fileDrop(id: fileID), drop.userID == user.id, drop.digest != nil else {
                throw APIError.invalidRequest("File \(fileID.prefix(100)) could not be found or is invalid")
            }
            sourceKind = "upload"
            displayName = String((drop.digest ?? fileID).split(separator: ":").last?.prefix(7) ?? "upload")
        } else if let url = body.archive_url {
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw APIError.invalidRequest("Invalid Archive URL: Must be http or https") }
            do {
                _ = try await URLSafety.check(url, allowPrivate: services.config.security.allowPrivateTargets)
            } catch {
                throw APIError.invalidRequest("Invalid Archive URL: \(error)")
            }
            sourceKind = "archive_url"
            displayName = String(SHA256.hash(data: Data(url.utf8)).map { String(format: "%02x", $0) }.joined().prefix(7))
        } else {
            throw APIError.invalidRequest("file_id or archive_url required")
        }
        let paths = try BuildPaths.resolve(subdirectory: body.subdirectory, dockerfilePath: body.dockerfile_path, context: body.context)
        var tags = (body.docker_tags ?? ["latest"]).map(TagEscaping.escape)
        if tags.isEmpty { tags = ["latest"] }
        guard Set(tags).count == tags.count else { throw APIError.invalidRequest("docker_tags must be unique") }
        var record = BuildRecord(repository: repo, sourceKind: sourceKind, fileID: body.file_id, archiveURL: body.archive_url,
                                 subdirectory: body.subdirectory ?? "", dockerfilePath: paths.dockerfile, context: paths.context, tags: tags,
                                 displayName: displayName, manualUserID: user.id)
        record.pullRobotID = pullRobot?.id
        try record.setInputs(inputs, box: services.secretBox)
        record.platforms = platforms
        if let name = body.cache_repository, !name.isEmpty {
            do {
                record.cacheRepository = try await LayerCacheRepository.resolve(name, target: repo, user: user, accounts: services.accounts).description
            } catch let error as BuildInputError {
                throw APIError.invalidRequest(error.message)
            }
            record.cacheUserID = user.id
        }
        switch try await queue.enqueue(record) {
        case .queueFull:
            return BuildQueueFull.response()
        case .accepted(let stored):
            services.auditLog.record(.repository(.buildDockerfile, repo, performer: r.actor, ip: r.ip, ["build_uuid": stored.uuid]))
            let location = "/api/v1/repository/\(repo.path)/build/\(stored.uuid)/status"
            var view = BuildView(stored, repository: repo, isWriter: true, manualUser: user.name, pullRobot: pullRobot?.name)
            view.waiting_reason = await queue.waitingReason(platforms: stored.platforms)
            return APIResponse.json(view, status: .created,
                                    headers: [.location: location])
        }
    }

    func record(_ r: APIRequest) async throws -> BuildRecord {
        guard let b = try await store.build(uuid: r.parameter("build_uuid")), b.repositoryID == r.repository!.id else {
            throw APIError.notFound("build not found")
        }
        return b
    }

    func view(_ b: BuildRecord, _ r: APIRequest) async throws -> BuildView {
        var view = try await BuildView.make(b, repository: r.repository!, isWriter: (r.role ?? .read) >= .write && r.role != nil, services: services, sources: sources)
        if b.phase == .waiting { view.waiting_reason = await queue.waitingReason(platforms: b.platforms) }
        return view
    }

    func list(_ r: APIRequest) async throws -> Response {
        let q = r.request.uri.queryParameters
        let limit = min(max(Int(q["limit"].map(String.init) ?? "5") ?? 5, 1), 100)
        let since = try q["since"].flatMap { Int64(String($0)) }.map { seconds throws(APIError) in try APIInput.milliseconds(fromSeconds: seconds, field: "since") }
        var views: [BuildView] = []
        for b in try await store.builds(repositoryID: r.repository!.id, since: since, limit: limit) {
            views.append(try await view(b, r))
        }
        return APIResponse.json(["builds": views])
    }

    func get(_ r: APIRequest) async throws -> Response {
        APIResponse.json(try await view(try await record(r), r))
    }

    struct LogsView: Encodable {
        let start: Int
        let total: Int
        let logs: [BuildLogEntry]
    }

    func logs(_ r: APIRequest) async throws -> Response {
        let b = try await record(r)
        let start = max(0, Int(r.request.uri.queryParameters["start"].map(String.init) ?? "0") ?? 0)
        let entries = try await BuildLogStore(store: store, storage: services.storage).entries(b, start: start)
        return APIResponse.json(LogsView(start: start, total: start + entries.count, logs: entries))
    }

    func logText(_ r: APIRequest) async throws -> Response {
        let b = try await record(r)
        var text = ""
        for e in try await BuildLogStore(store: store, storage: services.storage).entries(b, start: 0) {
            switch e.type {
            case "phase": text += "=== phase: \(e.message) ===\n"
            case "error": text += "ERROR: \(e.message)\n"
            default: text += e.message + "\n"
            }
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8",
                                               .contentDisposition: "attachment; filename=\"build-\(b.uuid).log\""],
                         body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func cancel(_ r: APIRequest) async throws -> Response {
        let b = try await record(r)
        switch try await queue.cancel(uuid: b.uuid) {
        case .cancelled, .signalledWorker:
            services.auditLog.record(.repository(.cancelBuild, r.repository!, performer: r.actor, ip: r.ip, ["build_uuid": b.uuid]))
            return APIResponse.message("Okay", status: .created)
        case .alreadyFinished, .notFound:
            throw APIError.invalidRequest("Build is currently running or has finished")
        }
    }

    struct FileDropBody: Decodable { let mimeType: String }

    func fileDrop(_ r: APIRequest) async throws -> Response {
        let user = try r.user
        let body = try await r.decode(FileDropBody.self)
        guard body.mimeType.count <= 255 else { throw APIError.invalidRequest("mimeType is too long") }
        let id = APITokens.generate().replacingOccurrences(of: "_", with: "-")
        try await store.createFileDrop(id: id, userID: user.id, mimeType: body.mimeType)
        let key = try await uploadKeys.uploadKey(fileID: id, userID: user.id)
        struct View: Encodable { let url: String; let file_id: String }
        return APIResponse.json(View(url: "\(r.origin)/userfiles/\(id)/\(key)", file_id: id))
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}

extension HTTPField.Name {
    static let contentDisposition = HTTPField.Name("Content-Disposition")!
}
