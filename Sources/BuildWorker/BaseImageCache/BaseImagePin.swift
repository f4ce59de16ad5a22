// The fast way for a build in its namespace's cache storage to re-check its base images.
//
// The slow way is `buildah bud --pull-always`: buildah asks the registry for each base's
// manifest with the build's credentials, then copies manifest and config into the storage and
// records the image again, even when nothing changed (about 40 ms of a half-second build). Here
// the worker asks the registry itself, with the same credentials, which digest each base tag
// names now (a token and one HEAD per base), and builds from a copy of the Dockerfile whose FROM
// lines name those digests, with buildah's default pull policy: a base already in the storage
// under that digest is used as it is, any other is pulled by digest with the build's own
// auth.json.
//
// The check is the one the slow way makes (the registry answers this build's credentials, now),
// and the image used is exactly the one the registry names now. Whenever a base cannot be
// pinned (an ARG in FROM, a base on another registry, a refused or failed request) the build
// takes the slow way, which fails with the registry's own words where it must.

import BuildProtocol
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

struct BaseImagePin: Sendable {
    /// One FROM line of the Dockerfile that names an image of this registry by tag.
    struct Base: Equatable, Hashable {
        let repository: String
        let tag: String
    }

    /// The Dockerfile's FROM lines, or nil when one of them cannot be pinned here.
    struct Plan: Equatable {
        /// Line index → the base it names (lines naming a stage, `scratch` or a digest stay).
        let bases: [Int: Base]
        let lines: [String]
    }

    var timeout: TimeInterval = 10

    /// Which FROM lines name `registry/<repository>[:tag]`; nil when any FROM line is something
    /// this cannot resolve (a variable, another registry, a continued line).
    static func plan(dockerfile text: String, registry: String) -> Plan? {
        let lines = text.components(separatedBy: "\n")
        var stages = Set<String>()
        var bases: [Int: Base] = [:]
        for (index, raw) in lines.enumerated() {
            let words = raw.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard let first = words.first, first.uppercased() == "FROM" else { continue }
            if raw.trimmingCharacters(in: .whitespaces).hasSuffix("\\") { return nil }
            var rest = Array(words.dropFirst())
            while let flag = rest.first, flag.hasPrefix("--") {
                // `--platform=$BUILDPLATFORM` and friends: leave such builds to buildah.
                if flag.contains("$") { return nil }
                rest.removeFirst()
            }
            guard let image = rest.first else { return nil }
            if rest.count >= 3, rest[1].uppercased() == "AS" { stages.insert(rest[2].lowercased()) }
            if image.contains("$") { return nil }
            if image == "scratch" || stages.contains(image.lowercased()) && !image.contains("/") { continue }
            if image.contains("@") { continue }  // pinned by the author already
            let prefix = registry + "/"
            guard image.hasPrefix(prefix) else { return nil }
            var name = String(image.dropFirst(prefix.count))
            var tag = "latest"
            if let colon = name.lastIndex(of: ":"), !name[colon...].contains("/") {
                tag = String(name[name.index(after: colon)...])
                name = String(name[..<colon])
            }
            guard !name.isEmpty, !tag.isEmpty else { return nil }
            bases[index] = Base(repository: name, tag: tag)
        }
        return Plan(bases: bases, lines: lines)
    }

    /// The Dockerfile with every base of this registry named by the digest the registry gives
    /// it now, asked with the build's credentials; nil when the build should take the slow way.
    func pinnedDockerfile(_ text: String, pack: BuildPack) async -> (text: String, digests: [String: String])? {
        guard let plan = Self.plan(dockerfile: text, registry: pack.registry), !plan.bases.isEmpty else { return nil }
        var digests: [Base: String] = [:]
        for base in Set(plan.bases.values) {
            guard let digest = try? await currentDigest(of: base, pack: pack) else { return nil }
            digests[base] = digest
        }
        var lines = plan.lines
        var named: [String: String] = [:]
        for (index, base) in plan.bases {
            let reference = "\(pack.registry)/\(base.repository):\(base.tag)"
            let pinned = "\(pack.registry)/\(base.repository)@\(digests[base]!)"
            guard let range = lines[index].range(of: reference) ?? lines[index].range(of: "\(pack.registry)/\(base.repository)") else { return nil }
            lines[index].replaceSubrange(range, with: pinned)
            named[reference] = digests[base]!
        }
        return (lines.joined(separator: "\n"), named)
    }

    /// `Docker-Content-Digest` of `base` by HEAD, with the credentials buildah would use for it:
    /// the push token for the build's own repository, else the pull robot, else none.
    private func currentDigest(of base: Base, pack: BuildPack) async throws -> String? {
        let url = URL(string: "\(pack.tlsVerify ? "https" : "http")://\(pack.registry)")!
        let credentials = base.repository == pack.repository ? pack.pushCredentials : pack.pullCredentials
        let login = credentials.map { (username: $0.username, password: $0.password) }
        let token = try await ManifestTagger.bearerToken(base: url, scope: "repository:\(base.repository):pull", credentials: login,
                                                         timeout: timeout)
        var head = URLRequest(url: url.appendingPathComponent("v2/\(base.repository)/manifests/\(base.tag)"), timeoutInterval: timeout)
        head.httpMethod = "HEAD"
        head.setValue(ManifestTagger.accept, forHTTPHeaderField: "Accept")
        if let token {
            head.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        } else if let login {
            ManifestTagger.authorize(&head, token: nil, username: login.username, password: login.password)
        }
        let (status, headers, _) = try await ManifestTagger.send(head)
        guard status == 200, let digest = headers["docker-content-digest"], digest.hasPrefix("sha256:"), digest.count == 71 else { return nil }
        return digest
    }
}
