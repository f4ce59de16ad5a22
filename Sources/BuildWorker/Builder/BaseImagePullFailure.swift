// Recognises the builder's failure to pull a base image because the registry wanted credentials
// the build does not have, and says what to do about it. Every push creates a private
// repository, so a newcomer's first trigger build typically fails pulling their own base image;
// buildah's "authentication required" alone does not tell them that a pull robot is the fix.

enum BaseImagePullFailure {
    /// What registries and buildah say when a pull is refused for want of credentials.
    static let authPhrases = [
        "authentication required", "unauthorized", "access to the requested resource is not authorized",
        "requested access to the resource is denied", "invalid username/password", "denied:",
    ]
    /// What buildah says while it fetches a FROM image (not while it pushes the result).
    static let pullPhrases = ["creating build container", "initializing source", "pulling image", "reading manifest", "trying to pull"]

    /// The remedy for a builder error line, or nil when the line is not such a pull failure.
    /// - Parameters:
    ///   - registry: `host:port` of this registry (a pull robot logs in only there).
    ///   - repository: the repository the build pushes to (`namespace/name`).
    ///   - pullRobot: the name of the build's pull robot, if it has one.
    static func remedy(for error: String, registry: String, repository: String, pullRobot: String?) -> String? {
        let lower = error.lowercased()
        guard pullPhrases.contains(where: { lower.contains($0) }), authPhrases.contains(where: { lower.contains($0) }),
              !lower.contains("pushing"), !lower.contains("writing manifest") else { return nil }
        let image = imageReference(in: error)
        let named = image.map { "the base image \($0)" } ?? "a base image"
        let answer = registryAnswer(in: error)
        let onThisRegistry = image.map { $0.lowercased().hasPrefix(registry.lowercased() + "/") } ?? true
        guard onThisRegistry else {
            return "\(named) needs registry credentials this build does not have (the registry answered: \(answer)). "
                + "A pull robot logs in to this registry only: use a public base image, or copy it into this registry and "
                + "give the build a pull robot with read access to it."
        }
        let baseRepository = image.flatMap { repositoryPath($0, registry: registry) } ?? "<namespace>/<repository>"
        if let pullRobot {
            return "the pull robot \(pullRobot) cannot read \(named) (the registry answered: \(answer)): give it read access "
                + "(PUT /api/v1/repository/\(baseRepository)/permissions/user/\(pullRobot) with {\"role\": \"read\"})."
        }
        let namespace = repository.split(separator: "/").first.map(String.init) ?? "<namespace>"
        return "\(named) is private (the registry answered: \(answer)): give the build a pull robot with read access. "
            + "Create a robot (PUT /api/v1/user/robots/<name>, or /api/v1/organization/\(namespace)/robots/<name>), grant it read "
            + "(PUT /api/v1/repository/\(baseRepository)/permissions/user/\(namespace)+<name> with {\"role\": \"read\"}) and make it "
            + "the trigger's pull robot (PUT /api/v1/repository/\(repository)/trigger/<uuid> with {\"pull_robot\": \"\(namespace)+<name>\"}) "
            + "or the build's pull_robot; examples/TRIGGERS.md shows the calls."
    }

    /// `namespace/name` of an image on this registry (`host:port/namespace/name:tag`).
    static func repositoryPath(_ image: String, registry: String) -> String? {
        guard image.lowercased().hasPrefix(registry.lowercased() + "/") else { return nil }
        var path = image.dropFirst(registry.count + 1)
        if let at = path.firstIndex(of: "@") { path = path[..<at] }
        if let colon = path.lastIndex(of: ":"), !path[colon...].contains("/") { path = path[..<colon] }
        return path.isEmpty ? nil : String(path)
    }

    /// `host/path:tag` after `docker://` (buildah names the source it could not initialise).
    static func imageReference(in error: String) -> String? {
        guard let start = error.range(of: "docker://") else { return nil }
        let rest = error[start.upperBound...]
        // The reference ends at ": " (buildah's separator before the cause) or whitespace.
        let end = rest.range(of: ": ")?.lowerBound ?? rest.firstIndex(where: \.isWhitespace) ?? rest.endIndex
        let reference = String(rest[..<end])
        return reference.isEmpty ? nil : reference
    }

    /// The registry's own words: the text after the last ": " (buildah's cause chain).
    static func registryAnswer(in error: String) -> String {
        guard let last = error.range(of: ": ", options: .backwards) else { return error }
        let tail = error[last.upperBound...].trimmingCharacters(in: .whitespaces)
        // "unauthorized: authentication required" style answers keep their code.
        if let previous = error[..<last.lowerBound].range(of: ": ", options: .backwards) {
            let code = error[previous.upperBound..<last.lowerBound]
            if ["unauthorized", "denied", "forbidden"].contains(code.lowercased()) { return "\(code): \(tail)" }
        }
        return tail
    }
}
