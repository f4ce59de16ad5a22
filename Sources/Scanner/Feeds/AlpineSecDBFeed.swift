// Alpine's SecDB (https://secdb.alpinelinux.org/v3.19/main.json): per package, the versions
// that fixed which CVEs (`secfixes`). A fix in version "0" means the branch was never affected.
// SecDB has no severities: every advisory is Unknown, as the guide's Alpine table says.

enum AlpineSecDBFeed {
    static func parse(_ data: [UInt8], file: String) throws(FeedError) -> FeedParseResult {
        guard let root = try JSONInput.object(data, file: file) as? [String: Any],
              let branch = root["distroversion"] as? String, branch.hasPrefix("v"),
              let packages = root["packages"] as? [Any] else {
            throw FeedError(file: file, message: "an Alpine SecDB file has `distroversion` (v3.x) and `packages`")
        }
        let namespace = PackageNamespace.alpine(branch)
        var result = FeedParseResult()
        // One advisory per CVE and package, as the other feeds give them.
        for case let entry as [String: Any] in packages {
            guard let pkg = entry["pkg"] as? [String: Any], let name = pkg["name"] as? String else {
                result.skip("?", "a package entry without a name")
                continue
            }
            for (fixed, idsValue) in (pkg["secfixes"] as? [String: Any] ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard fixed != "0" else { continue }
                guard namespace.format.isValid(fixed) else {
                    result.skip("\(name) \(fixed.prefix(64))", "not an apk version")
                    continue
                }
                // Entries may name several ids ("CVE-2021-1234 XSA-123").
                let ids = (idsValue as? [Any] ?? []).compactMap { $0 as? String }
                    .flatMap { $0.split(separator: " ").map(String.init) }
                for id in ids where !id.isEmpty {
                    result.advisories.append(Advisory(
                        id: id, source: "alpine", link: "https://security.alpinelinux.org/vuln/\(id)", severity: .unknown,
                        affected: [AffectedPackage(namespace: namespace, name: name, ranges: [AffectedRange(fixed: fixed)])]))
                }
            }
        }
        return result
    }
}
