// Version ordering per ecosystem. The expected orders were produced by each ecosystem's own
// implementation on a Debian 12 machine, not by reasoning about the rules: `dpkg
// --compare-versions` (dpkg 1.21), `rpm.vercmp` (rpm 4.18), Python's `packaging` 26.2, Maven's
// `ComparableVersion` (maven-artifact 3.8.7), npm's `semver`, and Ruby's `Gem::Version`
// (Ruby 3.1). apk-tools is not packaged for Debian; its rows follow apk-tools' own test data
// (test/version.data) and its documented suffix order.

import Scanner
import Testing

typealias Row = (a: String, b: String, order: VersionOrder)

@Suite("Version ordering per ecosystem")
struct VersionOrderingTests {
    static let dpkg: [Row] = [
        ("1.0", "1.0-0", .same),
        ("1.0~rc1", "1.0", .older),
        ("1.0~rc1", "1.0~rc1~", .newer),
        ("1.0~~", "1.0~", .older),
        ("1:0.1", "2.0", .newer),
        ("0:1.0", "1.0", .same),
        ("1.0-1", "1.0-1+deb12u1", .older),
        ("1.0a", "1.0+", .older),
        ("1.0a", "1.0.", .older),
        ("1.2.10", "1.2.9", .newer),
        ("1.02", "1.2", .same),
        ("2.36-9+deb12u4", "2.36-9+deb12u10", .older),
        ("1.0-1ubuntu1", "1.0-1", .newer),
        ("3.0.11-1~deb12u2", "3.0.11-1", .older),
        ("1.0+dfsg-1", "1.0-1", .newer),
        ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12", .older),
        ("1.0", "1.0a", .older),
        ("1.0-a", "1.0-1", .newer),
        ("10", "9", .newer),
        ("1.1.1n-0+deb11u5", "1.1.1w-0+deb11u1", .older),
        ("2:1.0", "1:9.9", .newer),
    ]

    static let apk: [Row] = [
        ("1.2.3-r0", "1.2.3-r1", .older),
        ("1.2.3_rc1-r0", "1.2.3-r0", .older),
        ("1.2.3-r0", "1.2.3_p1-r0", .older),
        ("1.2.3_alpha", "1.2.3_beta", .older),
        ("1.2.3_beta", "1.2.3_pre", .older),
        ("1.2.3_pre", "1.2.3_rc", .older),
        ("1.2.3_rc", "1.2.3", .older),
        ("1.2.3", "1.2.3_cvs", .older),
        ("1.2.3_cvs", "1.2.3_svn", .older),
        ("1.2.3_svn", "1.2.3_git", .older),
        ("1.2.3_git", "1.2.3_hg", .older),
        ("1.2.3_hg", "1.2.3_p", .older),
        ("1.2", "1.2.1", .older),
        ("1.2a", "1.2", .newer),
        ("1.2a", "1.2b", .older),
        ("1.2a", "1.2.1", .older),
        ("1.01", "1.1", .older),
        ("1.10", "1.9", .newer),
        ("1.0_rc1", "1.0_rc2", .older),
        ("1.0_rc10", "1.0_rc9", .newer),
        ("1.0-r10", "1.0-r9", .newer),
        ("3.0.8-r0", "3.0.12-r0", .older),
        ("1.36.1-r15", "1.36.1-r28", .older),
        ("2.4.0_git20200101-r0", "2.4.0-r0", .newer),
        ("1.0", "1.0", .same),
        ("1.0-r0", "1.0", .newer),
    ]

    static let rpm: [Row] = [
        ("1.0", "1.0-1", .older),
        ("1.0-1", "1.0-2", .older),
        ("1.0~rc1-1", "1.0-1", .older),
        ("1.0^git1-1", "1.0-1", .newer),
        ("1.0^git1-1", "1.0.1-1", .older),
        ("1:1.0-1", "2.0-1", .newer),
        ("1.0a-1", "1.0-1", .newer),
        ("1.0.1-1", "1.0a-1", .newer),
        ("2.28-151.el9", "2.28-236.el9_3.1", .older),
        ("3.0.7-16.el9_2", "3.0.7-24.el9", .older),
        ("1.010-1", "1.9-1", .newer),
        ("1.0_1-1", "1.0.1-1", .same),
        ("5.4.4-2.el9", "5.4.4-4.el9", .older),
        ("1.0~~-1", "1.0~-1", .older),
        ("abc-1", "abd-1", .older),
        ("1.0-1.el8", "1.0-1.el9", .older),
    ]

    static let pep440: [Row] = [
        ("1.0", "1.0.0", .same),
        ("1.0.dev1", "1.0a1", .older),
        ("1.0a1", "1.0b1", .older),
        ("1.0b2", "1.0rc1", .older),
        ("1.0rc1", "1.0", .older),
        ("1.0", "1.0.post1", .older),
        ("1.0.post1", "1.0.post1+local", .older),
        ("1.0+abc", "1.0+5", .older),
        ("1.0+abc.5", "1.0+abc.6", .older),
        ("1!0.1", "2.0", .newer),
        ("1.0c1", "1.0rc1", .same),
        ("1.0-1", "1.0.post1", .same),
        ("1.0.post1.dev1", "1.0.post1", .older),
        ("1.0a1.dev1", "1.0a1", .older),
        ("2.0.0", "10.0", .older),
        ("v1.2", "1.2", .same),
        ("1.0.alpha1", "1.0a1", .same),
        ("1.0-preview-2", "1.0rc2", .same),
        ("1.0.dev0", "1.0.dev1", .older),
        ("1.0rev3", "1.0.post3", .same),
        ("1.0+1", "1.0+a", .newer),
        ("0.9.post1", "1.0.dev0", .older),
        ("1.0+ubuntu.1", "1.0+ubuntu-1", .same),
    ]

    static let semver: [Row] = [
        ("1.0.0-alpha", "1.0.0-alpha.1", .older),
        ("1.0.0-alpha.1", "1.0.0-alpha.beta", .older),
        ("1.0.0-alpha.beta", "1.0.0-beta", .older),
        ("1.0.0-beta", "1.0.0-beta.2", .older),
        ("1.0.0-beta.2", "1.0.0-beta.11", .older),
        ("1.0.0-beta.11", "1.0.0-rc.1", .older),
        ("1.0.0-rc.1", "1.0.0", .older),
        ("1.0.0+build.1", "1.0.0+build.2", .same),
        ("1.9.0", "1.10.0", .older),
        ("0.0.0-20210101000000-abcdef123456", "0.0.0-20220101000000-123456abcdef", .older),
        ("0.0.0-20220101000000-abcdef123456", "0.1.0", .older),
        ("1.2.3-x.7.z.92", "1.2.3-x.7.z.93", .older),
        ("2.0.0-rc.1+build.5", "2.0.0-rc.1", .same),
    ]

    static let maven: [Row] = [
        ("1.0", "1", .same),
        ("1.0.0", "1", .same),
        ("1-alpha", "1-beta", .older),
        ("1-beta", "1-milestone", .older),
        ("1-m1", "1-rc1", .older),
        ("1-rc1", "1-snapshot", .older),
        ("1-snapshot", "1", .older),
        ("1", "1-sp", .older),
        ("1-sp", "1-foo", .older),
        ("1-foo", "1.1", .older),
        ("1-ga", "1", .same),
        ("1-final", "1", .same),
        ("1-cr1", "1-rc1", .same),
        ("1.0-alpha1", "1.0-alpha2", .older),
        ("1.0.1", "1.0.1-1", .older),
        ("1a1", "1-alpha-1", .same),
        ("1.10", "1.9", .newer),
        ("2.0.0.RELEASE", "2.0.0", .same),
        ("1.0-SNAPSHOT", "1.0", .older),
        ("1-1", "1.1", .older),
        ("1.0.0.Final", "1.0.0.CR1", .newer),
        ("2.14.1", "2.15.0-rc1", .older),
        ("1.0.a", "1.0-a", .same),
        ("1-0.1", "1-1", .older),
        ("1.0-abc", "1.0-xyz", .older),
        ("1.0.0-0", "1.0.0", .same),
        ("1.a.1", "1.0.a.1", .older),
        ("1.a-1", "1-a.b", .older),
        ("1.x1.2", "1-x-1.2", .same),
        ("1-1.0.a", "1-1-a", .same),
        ("1.0-a.b-c", "1.0-a.b", .older),
        ("1.0.0.x1", "1.0.0-x2", .older),
        ("1.0RC1", "1.0-rc1", .same),
        ("1.0.0.Beta2", "1.0.0.Beta10", .older),
    ]

    static let rubygems: [Row] = [
        ("1.0", "1", .same),
        ("1.0.a", "1.0", .older),
        ("1.0.a", "1.0.b", .older),
        ("1.0.a2", "1.0.a10", .older),
        ("1.0-1", "1.0", .older),
        ("1.0.rc1", "1.0.1", .older),
        ("1.a", "1.0.1", .older),
        ("2.7.3", "2.7.10", .older),
        ("1.0.0.pre", "1.0.0", .older),
        ("1.2.3.beta", "1.2.3.alpha", .newer),
        ("0.9", "0.10", .older),
        ("1.0.0.0.1", "1.0", .newer),
    ]

    static let tables: [(VersionFormat, [Row])] = [
        (.dpkg, dpkg), (.apk, apk), (.rpm, rpm), (.pep440, pep440), (.semver, semver), (.maven, maven), (.rubygems, rubygems),
    ]

    @Test(arguments: tables.map(\.0))
    func ordersAsTheEcosystemDoes(format: VersionFormat) {
        let rows = Self.tables.first { $0.0 == format }!.1
        for row in rows {
            #expect(format.compare(row.a, row.b) == row.order, "\(format): \(row.a) vs \(row.b)")
            // The order is antisymmetric: swapping the sides swaps the answer.
            let swapped: VersionOrder = row.order == .older ? .newer : (row.order == .newer ? .older : .same)
            #expect(format.compare(row.b, row.a) == swapped, "\(format): \(row.b) vs \(row.a)")
        }
    }

    /// Sorting a shuffled list gives the order the rows imply (transitivity across rows).
    @Test func sortsAChainOfReleases() throws {
        let debian = ["1.0~rc1-1", "1.0-1", "1.0-1+deb12u1", "1.0-1+deb12u10", "1.0.1-1", "1:0.9-1"]
        let sorted = debian.shuffled().sorted { try! #require(DpkgVersion($0)) < #require(DpkgVersion($1)) }
        #expect(sorted == debian)
        let python = ["1.0.dev0", "1.0a1", "1.0b1", "1.0rc1", "1.0", "1.0+local", "1.0.post1.dev0", "1.0.post1", "1.1"]
        #expect(python.shuffled().sorted { PEP440Version($0)! < PEP440Version($1)! } == python)
        let alpine = ["1.2.3_alpha1-r0", "1.2.3_rc1-r0", "1.2.3-r0", "1.2.3-r1", "1.2.3_p1-r0", "1.2.4-r0"]
        #expect(alpine.shuffled().sorted { ApkVersion($0)! < ApkVersion($1)! } == alpine)
    }

    @Test func refusesWhatIsNotAVersionOfTheScheme() {
        for bad in ["", "abc", "a1", "1.0_foo", "1.0-x", "1.0-r1a"] {
            #expect(!VersionFormat.apk.isValid(bad), "apk accepted \(bad)")
        }
        for bad in ["", "a:1.0", "1.0-", "1.0 beta"] {
            #expect(!VersionFormat.dpkg.isValid(bad), "dpkg accepted \(bad)")
        }
        for bad in ["", "1.0junk", "1.0+", "one"] {
            #expect(!VersionFormat.pep440.isValid(bad), "PEP 440 accepted \(bad)")
        }
        for bad in ["", "1.2.3.4", "1.x", "1.0.0-", "1.0.0-a..b"] {
            #expect(!VersionFormat.semver.isValid(bad), "semver accepted \(bad)")
        }
        for bad in ["", "a1", "1.0_beta"] {
            #expect(!VersionFormat.rubygems.isValid(bad), "RubyGems accepted \(bad)")
        }
        for bad in ["", "1.0-", "1.0 -1"] {
            #expect(!VersionFormat.rpm.isValid(bad), "rpm accepted \(bad)")
        }
        #expect(VersionFormat.maven.isValid("anything-goes.1"), "every string is a Maven version")
        #expect(VersionFormat.dpkg.compare("1.0", "not a version") == nil)
    }

    @Test func normalisesPythonSpellings() {
        #expect(PEP440Version("1.0.ALPHA-1")?.description == "1.0a1")
        #expect(PEP440Version("v2!1.0-preview.3.post-4.dev5+Ubuntu-1")?.description == "2!1.0rc3.post4.dev5+ubuntu.1")
    }
}
