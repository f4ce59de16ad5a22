import Foundation
import Registry

/// The SLSA v1 provenance of one built image, as an in-toto v1 statement: which source, which
/// Dockerfile (path and digest), which arguments (never secrets: only their ids are known here,
/// and not even those are recorded), which base images (the digests buildah recorded in the
/// manifest's `org.opencontainers.image.base.*` annotations), who built it and when.
struct BuildProvenance {
    static let payloadType = "application/vnd.in-toto+json"
    static let predicateType = "https://slsa.dev/provenance/v1"
    /// What the build's external parameters mean (documented in examples/provenance.md).
    static let buildType = "https://slipway.dev/buildtypes/dockerfile/v1"

    struct Inputs {
        let record: BuildRecord
        let repository: String
        let registry: String
        let builderID: String
        let imageDigest: String
        let imageAnnotations: [String: String]
        let dockerfileDigest: String?
        let uploadDigest: String?
    }

    static func statement(_ i: Inputs) -> [String: Any] {
        let r = i.record
        var source: [String: Any] = ["kind": r.sourceKind]
        var dependencies: [[String: Any]] = []
        switch r.sourceKind {
        case "git":
            source["uri"] = r.gitURL ?? ""
            if let commit = r.commitSHA { source["commit"] = commit }
            if let url = r.gitURL, let commit = r.commitSHA, commit.count == 40 {
                dependencies.append(["uri": "git+\(url)", "digest": ["gitCommit": commit]])
            }
        case "archive_url":
            source["uri"] = r.archiveURL ?? ""
            if let url = r.archiveURL { dependencies.append(["uri": url]) }
        default:
            source["fileID"] = r.fileID ?? ""
            if let digest = i.uploadDigest { dependencies.append(["name": "build context", "digest": hexDigest(digest)]) }
        }
        if let digest = i.dockerfileDigest {
            dependencies.append(["name": "Dockerfile", "uri": r.dockerfilePath, "digest": hexDigest(digest)])
        }
        if let base = i.imageAnnotations["org.opencontainers.image.base.digest"] {
            var dependency: [String: Any] = ["digest": hexDigest(base)]
            if let name = i.imageAnnotations["org.opencontainers.image.base.name"] {
                dependency["uri"] = "oci://\(name)"
                dependency["name"] = "base image"
            }
            dependencies.append(dependency)
        }
        var external: [String: Any] = ["source": source, "dockerfile": r.dockerfilePath, "context": r.context, "tags": r.tags]
        if !r.buildArgs.isEmpty { external["buildArgs"] = r.buildArgs }
        if let metadata = r.triggerMetadata, let object = try? JSONSerialization.jsonObject(with: Data(metadata.utf8)) {
            external["trigger"] = object
        }
        var metadata: [String: Any] = ["invocationId": r.uuid]
        if let started = r.startedAt { metadata["startedOn"] = iso(started) }
        if let finished = r.finishedAt { metadata["finishedOn"] = iso(finished) }
        return [
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [["name": "\(i.registry)/\(i.repository)", "digest": hexDigest(i.imageDigest)]],
            "predicateType": predicateType,
            "predicate": [
                "buildDefinition": [
                    "buildType": buildType,
                    "externalParameters": external,
                    "internalParameters": ["buildID": r.uuid, "attempts": r.attempts],
                    "resolvedDependencies": dependencies,
                ],
                "runDetails": ["builder": ["id": i.builderID], "metadata": metadata],
            ] as [String: Any],
        ]
    }

    /// `sha256:abc…` → `{"sha256": "abc…"}` (in-toto's digest set).
    static func hexDigest(_ digest: String) -> [String: String] {
        let parts = digest.split(separator: ":", maxSplits: 1)
        guard parts.count == 2 else { return ["sha256": digest] }
        return [String(parts[0]): String(parts[1])]
    }

    static func iso(_ millis: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }
}
