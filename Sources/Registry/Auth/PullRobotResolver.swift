import Accounts

/// Checks a `pull_robot` named in a build request or a trigger: it must exist, belong to the
/// repository's namespace, and be administrable by the caller (their own user namespace, or an
/// organization where they are in an admin team), so nobody borrows a robot they couldn't see.
extension RegistryServices {
    public enum PullRobotCheck: Sendable, Equatable {
        case ok(RobotAccount)
        /// The name is malformed, or no such robot exists in the repository's namespace.
        case notFound(String)
        /// It exists, but the caller cannot administer it.
        case forbidden(String)
    }

    public func checkPullRobot(_ name: String, repository: Repository, caller: Namespace) async throws -> PullRobotCheck {
        let parts = name.split(separator: "+", maxSplits: 1).map(String.init)
        guard parts.count == 2, parts[0] == repository.namespace else {
            return .notFound("pull robot \(name) must be a robot of namespace \(repository.namespace)")
        }
        guard let owner = try await accounts.namespace(named: parts[0]), let robot = try await accounts.robot(named: name, ownerID: owner.id) else {
            return .notFound("pull robot \(name) does not exist")
        }
        if caller.isSuperuser || owner.id == caller.id { return .ok(robot) }
        if owner.kind == .organization, try await accounts.teamRole(userID: caller.id, organizationID: owner.id) == .admin { return .ok(robot) }
        return .forbidden("you cannot administer robot \(name)")
    }
}
