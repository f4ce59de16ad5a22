// Matching an image index against advisories into Quay's report shape, and what a feed update
// newly finds.

import Foundation
import Scanner
import Testing

@Suite("Matcher")
struct MatcherTests {
    static func index() -> ImageIndex {
        let base = ImageIndexTests.layer([
            "etc/os-release": "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
            "var/lib/dpkg/status": """
                Package: libssl3
                Status: install ok installed
                Source: openssl
                Version: 3.0.11-1~deb12u2

                Package: bash
                Status: install ok installed
                Version: 5.2.15-2+b2

                """,
        ])
        let app = ImageIndexTests.layer(["usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA": "Name: Jinja2\nVersion: 3.1.2\n"])
        return ImageIndex(layers: [("sha256:base", base), ("sha256:app", app)])
    }

    static func advisories(_ extra: [Advisory] = []) throws -> AdvisoryIndex {
        let debian = try FeedFormat.debianTracker.parse(Array("""
            {"openssl": {"CVE-2023-5678": {"description": "DH checks are slow",
                           "releases": {"bookworm": {"status": "resolved", "fixed_version": "3.0.13-1~deb12u1", "urgency": "low"}}},
                         "CVE-2020-0001": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "1.1.1g-1", "urgency": "high"}}}},
             "bash": {"CVE-2022-3715": {"releases": {"bookworm": {"status": "open", "urgency": "unimportant"}}}}}
            """.utf8), file: "debian.json")
        let osv = try FeedFormat.osv.parse(Array(FeedParsingTests.osvPyPI.utf8), file: "osv.json")
        return AdvisoryIndex(debian.advisories + osv.advisories + extra)
    }

    @Test func reportsEachPackageWithItsVulnerabilities() throws {
        let report = Matcher.report(manifest: "sha256:manifest", index: Self.index(), advisories: try Self.advisories())
        #expect(report.Layer.Name == "sha256:manifest" && report.Layer.NamespaceName == "debian:12")
        let byName = Dictionary(uniqueKeysWithValues: report.Layer.Features.map { ($0.Name, $0) })
        #expect(Set(byName.keys) == ["libssl3", "bash", "Jinja2"])

        let ssl = try #require(byName["libssl3"])
        #expect(ssl.NamespaceName == "debian:12" && ssl.AddedBy == "sha256:base" && ssl.VersionFormat == "dpkg")
        #expect(ssl.Vulnerabilities.map(\.Name) == ["CVE-2023-5678"], "the 2020 CVE was fixed long before this version")
        let cve = ssl.Vulnerabilities[0]
        #expect(cve.Severity == "Medium" && cve.FixedBy == "3.0.13-1~deb12u1" && cve.Description == "DH checks are slow")
        #expect(cve.Link == "https://security-tracker.debian.org/tracker/CVE-2023-5678")
        #expect(cve.Metadata["DistroName"] == "Debian GNU/Linux 12 (bookworm)" && cve.Metadata["UpdatedBy"] == "debian")

        #expect(byName["bash"]?.Vulnerabilities.map(\.FixedBy) == [""], "open: no fix yet")
        #expect(byName["bash"]?.Vulnerabilities.first?.Severity == "Low")
        let jinja = try #require(byName["Jinja2"])
        #expect(jinja.AddedBy == "sha256:app" && jinja.NamespaceName == "pypi")
        #expect(jinja.Vulnerabilities.map(\.FixedBy) == ["3.1.3"])
        #expect(report.counts() == [.medium: 2, .low: 1])

        // The JSON field names are Quay's.
        let json = try #require(String(data: try JSONEncoder().encode(report), encoding: .utf8))
        for field in ["\"Features\"", "\"AddedBy\"", "\"FixedBy\"", "\"NamespaceName\"", "\"IndexedByVersion\"", "\"Vulnerabilities\""] {
            #expect(json.contains(field))
        }
    }

    @Test func findsWhatAFeedUpdateAdds() throws {
        let before = Matcher.report(manifest: "m", index: Self.index(), advisories: try Self.advisories())
        let newBash = Advisory(id: "CVE-2024-9999", source: "osv", link: "https://osv.dev/CVE-2024-9999", severity: .critical,
                               affected: [AffectedPackage(namespace: .debian("12"), name: "bash",
                                                          ranges: [AffectedRange(fixed: "5.2.15-2+b3")])])
        let lowOne = Advisory(id: "CVE-2024-0002", source: "osv", link: "x", severity: .low,
                              affected: [AffectedPackage(namespace: .pypi, name: "jinja2", ranges: [AffectedRange()])])
        let after = Matcher.report(manifest: "m", index: Self.index(), advisories: try Self.advisories([newBash, lowOne]))
        let found = Matcher.newFindings(old: before, new: after, level: .medium)
        #expect(found.map(\.vulnerability) == ["CVE-2024-9999"], "the Low one is below the level")
        #expect(Matcher.newFindings(old: after, new: after, level: .unknown).isEmpty, "nothing new, nothing found")
        #expect(Matcher.newFindings(old: nil, new: before, level: .unknown).count == 3)
    }

    @Test func aPackageInAnotherNamespaceIsNotMatched() throws {
        // An Alpine advisory for "openssl" must not match Debian's openssl.
        let alpine = Advisory(id: "CVE-2023-1111", source: "alpine", link: "x", severity: .unknown,
                              affected: [AffectedPackage(namespace: .alpine("v3.19"), name: "openssl", ranges: [AffectedRange(fixed: "9.9.9-r0")])])
        let report = Matcher.report(manifest: "m", index: Self.index(), advisories: AdvisoryIndex([alpine]))
        #expect(report.Layer.Features.allSatisfy { $0.Vulnerabilities.isEmpty })
    }
}
