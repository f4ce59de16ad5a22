// Feed files in each supported format, written here as the sources publish them (trimmed to
// the fields that matter), parsed into advisories and matched against package versions.

import Foundation
import Scanner
import Testing

@Suite("Vulnerability feeds")
struct FeedParsingTests {
    static func parse(_ format: FeedFormat, _ json: String) throws -> FeedParseResult {
        try format.parse(Array(json.utf8), file: "test.json")
    }

    static let osvPyPI = """
        {
          "id": "GHSA-h5c8-rqwp-cp95",
          "aliases": ["CVE-2024-22195"],
          "summary": "Jinja vulnerable to HTML attribute injection",
          "details": "The `xmlattr` filter ...",
          "modified": "2024-01-11T15:20:48Z",
          "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N"}],
          "affected": [{
            "package": {"ecosystem": "PyPI", "name": "Jinja2"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.3"}]}]
          }],
          "references": [{"type": "PACKAGE", "url": "https://github.com/pallets/jinja"},
                         {"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2024-22195"}],
          "database_specific": {"severity": "MODERATE"}
        }
        """

    @Test func readsAnOSVAdvisory() throws {
        let result = try Self.parse(.osv, Self.osvPyPI)
        #expect(result.skipped.isEmpty)
        let advisory = try #require(result.advisories.first)
        #expect(advisory.id == "GHSA-h5c8-rqwp-cp95" && advisory.source == "osv")
        #expect(advisory.link == "https://nvd.nist.gov/vuln/detail/CVE-2024-22195")
        #expect(advisory.severity == .medium, "CVSS 5.4 is Medium by the OSV table")
        let affected = try #require(advisory.affected.first)
        #expect(affected.namespace == .pypi && affected.name == "jinja2", "PEP 503 name")
        #expect(affected.match("3.1.2") == .init(fixedBy: "3.1.3"))
        #expect(affected.match("2.0rc1") == .init(fixedBy: "3.1.3"))
        #expect(affected.match("3.1.3") == nil)
        #expect(affected.match("3.2.0") == nil)
    }

    @Test func readsRangesWithSeveralIntervalsAndLastAffected() throws {
        let json = """
            [{"id": "GO-2024-0001", "modified": "2024-01-01T00:00:00Z",
              "affected": [{"package": {"ecosystem": "Go", "name": "golang.org/x/net"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.17.0"},
                                                          {"introduced": "0.18.0"}, {"last_affected": "0.19.1"}]},
                           {"type": "GIT", "repo": "https://go.googlesource.com/net", "events": [{"introduced": "0"}, {"fixed": "abc123"}]}]}]},
             {"id": "RUSTSEC-2024-0001", "modified": "2024-01-01T00:00:00Z",
              "affected": [{"package": {"ecosystem": "crates.io", "name": "foo"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}]},
             {"id": "GHSA-bogus", "modified": "2024-01-01T00:00:00Z",
              "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "not.a.version"}]}]}]},
             {"id": "GHSA-withdrawn", "modified": "2024-01-01T00:00:00Z", "withdrawn": "2024-02-01T00:00:00Z", "affected": []}]
            """
        let result = try Self.parse(.osv, json)
        #expect(result.advisories.map(\.id) == ["GO-2024-0001"])
        #expect(result.skipped.map(\.id) == ["RUSTSEC-2024-0001", "GHSA-bogus", "GHSA-withdrawn"])
        #expect(result.skipped[0].reason.contains("unsupported ecosystem crates.io"))
        #expect(result.skipped[1].reason.contains("not.a.version"))
        let net = try #require(result.advisories.first?.affected.first)
        #expect(net.ranges.count == 2, "the GIT range is ignored")
        #expect(net.match("v0.16.0") == .init(fixedBy: "0.17.0"))
        #expect(net.match("v0.17.0") == nil)
        #expect(net.match("v0.18.0") == .init(fixedBy: nil))
        #expect(net.match("v0.19.1") == .init(fixedBy: nil))
        #expect(net.match("v0.19.2") == nil)
        #expect(result.advisories[0].severity == .unknown, "no severity given")
    }

    @Test func readsDistributionEntriesOfOSV() throws {
        let json = """
            [{"id": "DEBIAN-CVE-2023-5678", "modified": "2024-01-01T00:00:00Z",
              "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]}],
                            "ecosystem_specific": {"urgency": "low"}}]},
             {"id": "UBUNTU-CVE-2024-1", "modified": "2024-01-01T00:00:00Z",
              "severity": [{"type": "Ubuntu", "score": "negligible"}],
              "affected": [{"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "bash"},
                            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "5.1-6ubuntu1.1"}]}]}]},
             {"id": "ALSA-2024:0001", "modified": "2024-01-01T00:00:00Z",
              "severity": [{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}],
              "affected": [{"package": {"ecosystem": "AlmaLinux:9", "name": "glibc"},
                            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.34-60.el9_2.7"}]}]}]}]
            """
        let result = try Self.parse(.osv, json)
        #expect(result.skipped.isEmpty)
        #expect(result.advisories.map(\.severity) == [.medium, .negligible, .high])
        #expect(result.advisories.map { $0.affected[0].namespace.name } == ["debian:12", "ubuntu:22.04", "almalinux:9"])
        let openssl = result.advisories[0].affected[0]
        #expect(openssl.match("3.0.11-1~deb12u2") == .init(fixedBy: "3.0.13-1~deb12u1"))
        #expect(openssl.match("3.0.13-1~deb12u1") == nil)
        let glibc = result.advisories[2].affected[0]
        #expect(glibc.match("2.34-60.el9") == .init(fixedBy: "2.34-60.el9_2.7"))
        #expect(glibc.match("2.34-83.el9") == nil)
    }

    @Test func readsTheDebianSecurityTracker() throws {
        let json = """
            {"openssl": {
               "CVE-2023-0001": {"description": "something in openssl", "scope": "remote",
                 "releases": {"bookworm": {"status": "resolved", "fixed_version": "3.0.9-1", "urgency": "medium"},
                              "bullseye": {"status": "open", "urgency": "low"},
                              "buster": {"status": "resolved", "fixed_version": "0", "urgency": "unimportant"},
                              "sid": {"status": "resolved", "fixed_version": "3.0.9-1", "urgency": "medium"}}},
               "CVE-2023-0002": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "0"}}}},
             "bash": {"TEMP-0000001-ABCDEF": {"releases": {"bookworm": {"status": "undetermined", "urgency": "not yet assigned"}}}}}
            """
        let result = try Self.parse(.debianTracker, json)
        #expect(result.advisories.map(\.id) == ["TEMP-0000001-ABCDEF", "CVE-2023-0001"], "never-affected CVE-2023-0002 left out")
        let cve = result.advisories[1]
        #expect(cve.severity == .high, "tracker 'medium' is Clair High; the highest release wins")
        #expect(cve.link == "https://security-tracker.debian.org/tracker/CVE-2023-0001")
        #expect(cve.affected.map(\.namespace.name) == ["debian:11", "debian:12"], "buster never affected, sid not a release")
        #expect(cve.affected[1].match("3.0.8-1") == .init(fixedBy: "3.0.9-1"))
        #expect(cve.affected[1].match("3.0.9-1") == nil)
        #expect(cve.affected[0].match("1.1.1w-0+deb11u1") == .init(fixedBy: nil), "open: every version, no fix")
        #expect(result.advisories[0].severity == .unknown)
    }

    @Test func readsAlpineSecDB() throws {
        let json = """
            {"distroversion": "v3.19", "reponame": "main", "urlprefix": "https://dl-cdn.alpinelinux.org/alpine",
             "packages": [{"pkg": {"name": "openssl", "secfixes": {"3.1.4-r1": ["CVE-2023-5363"], "3.1.4-r3": ["CVE-2023-5678 XSA-1"],
                                                                  "0": ["CVE-2022-0000"]}}},
                          {"pkg": {"name": "busybox", "secfixes": {"not-a-version": ["CVE-2023-9999"]}}}]}
            """
        let result = try Self.parse(.alpineSecDB, json)
        #expect(result.advisories.map(\.id) == ["CVE-2023-5363", "CVE-2023-5678", "XSA-1"])
        #expect(result.advisories.allSatisfy { $0.severity == .unknown && $0.affected[0].namespace == .alpine("v3.19") })
        #expect(result.skipped.count == 1 && result.skipped[0].reason == "not an apk version")
        let fix = result.advisories[1].affected[0]
        #expect(fix.match("3.1.4-r2") == .init(fixedBy: "3.1.4-r3"))
        #expect(fix.match("3.1.4-r3") == nil)
    }

    @Test func refusesFilesThatAreNotTheFormat() {
        #expect(throws: FeedError.self) { try Self.parse(.osv, "{not json") }
        #expect(throws: FeedError.self) { try Self.parse(.osv, "42") }
        #expect(throws: FeedError.self) { try Self.parse(.alpineSecDB, #"{"packages": []}"#) }
        #expect(throws: FeedError.self) { try Self.parse(.debianTracker, "[]") }
    }

    @Test func detectsTheFormatOfAFile() throws {
        func detect(_ json: String) throws -> FeedFormat? {
            try FeedFormat.detect(JSONSerialization.jsonObject(with: Data(json.utf8)))
        }
        #expect(try detect(Self.osvPyPI) == .osv)
        #expect(try detect("[\(Self.osvPyPI)]") == .osv)
        #expect(try detect(#"{"distroversion": "v3.19", "packages": []}"#) == .alpineSecDB)
        #expect(try detect(#"{"zlib": {"CVE-1": {"releases": {}}}}"#) == .debianTracker)
        #expect(try detect(#"{"hello": "world"}"#) == nil)
    }
}
