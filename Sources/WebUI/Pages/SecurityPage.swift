import Foundation
import Registry
import ScanService
import Scanner
import SlipwayCore

/// `/repository/<repo>/manifest/<digest>`: the Security Scanner page of one manifest, as the
/// guide's "Viewing Clair security scans by using the UI" shows it: the vulnerabilities (most
/// severe first; `security.js` sorts by severity, filters by text and "only fixable"), and a
/// packages view (`?view=packages`) with the layer that added each package.
struct SecurityPage {
    let server: PageServer

    struct VulnerabilityRow {
        let name: String
        let link: String
        let severity: String
        let severityClass: String
        /// Higher is more severe (for sorting in the page).
        let rank: Int
        let package: String
        let version: String
        let fixedBy: String
        let fixable: Bool
        let description: String
    }

    struct PackageRow {
        let name: String
        let version: String
        let namespace: String
        let addedBy: String
        let shortAddedBy: String
        let vulnerabilities: Int
    }

    struct CountView {
        let severity: String
        let severityClass: String
        let count: Int
    }

    struct Model {
        let header: RepositoryHeader
        let digest: String
        let shortDigest: String
        let status: String
        let reason: String?
        let isScanned: Bool
        let isQueued: Bool
        let showPackages: Bool
        let vulnerabilities: [VulnerabilityRow]
        let hasVulnerabilities: Bool
        let packages: [PackageRow]
        let hasPackages: Bool
        let counts: [CountView]
        let distribution: String
        let vulnerabilitiesURL: String
        let packagesURL: String
        let tagsURL: String
    }

    func page(_ r: PageRequest, access: RepositoryAccess, digest text: String) async throws -> Page {
        let repo = access.repository
        guard let digest = try? Digest(parsing: text),
              try await server.services.store.manifest(repositoryID: repo.id, digest: digest) != nil else {
            throw PageExit.notFound
        }
        let scan = try await server.scans.manifest(digest.description)
        let status = scan?.status ?? .queued
        let report = status == .scanned ? scan?.report : nil
        var vulnerabilities: [VulnerabilityRow] = []
        var packages: [PackageRow] = []
        for feature in report?.Layer.Features ?? [] {
            packages.append(PackageRow(name: feature.Name, version: feature.Version, namespace: feature.NamespaceName, addedBy: feature.AddedBy,
                                       shortAddedBy: Formatting.shortDigest(feature.AddedBy), vulnerabilities: feature.Vulnerabilities.count))
            for v in feature.Vulnerabilities {
                let severity = Severity(rawValue: v.Severity) ?? .unknown
                vulnerabilities.append(VulnerabilityRow(
                    name: v.Name, link: v.Link, severity: severity.rawValue, severityClass: "sev-\(severity.rawValue.lowercased())",
                    rank: Severity.allCases.sorted().firstIndex(of: severity) ?? 0, package: feature.Name, version: feature.Version,
                    fixedBy: v.FixedBy, fixable: !v.FixedBy.isEmpty, description: v.Description))
            }
        }
        vulnerabilities.sort { ($0.rank, $1.name, $1.package) > ($1.rank, $0.name, $0.package) }
        let counts = (report?.counts() ?? [:]).sorted { $0.key > $1.key }
            .map { CountView(severity: $0.key.rawValue, severityClass: "sev-\($0.key.rawValue.lowercased())", count: $0.value) }
        let header = try await RepositoryHeader.make(access, tab: "tags", request: r, services: server.services)
        let base = RepositoryURL.security(repo.path, digest: digest.description)
        let model = Model(
            header: header, digest: digest.description, shortDigest: Formatting.shortDigest(digest.description), status: status.rawValue,
            reason: scan?.reason, isScanned: report != nil, isQueued: status == .queued, showPackages: r.query("view") == "packages",
            vulnerabilities: vulnerabilities, hasVulnerabilities: !vulnerabilities.isEmpty, packages: packages, hasPackages: !packages.isEmpty,
            counts: counts, distribution: report?.Layer.NamespaceName ?? "", vulnerabilitiesURL: base, packagesURL: base + "?view=packages",
            tagsURL: RepositoryURL.page(repo.path, tab: "tags"))
        return Page(title: "\(repo.path)@\(Formatting.shortDigest(digest.description)) security", template: "security", model: model,
                    scripts: ["security.js"], nav: .repositories)
    }
}
