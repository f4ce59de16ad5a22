// The indexer's pure half: which files it reads, what each package database says, and how
// layers fold into an image's package list with whiteouts and AddedBy.

import Scanner
import Testing

@Suite("Image index")
struct ImageIndexTests {
    static let dpkgStatus = """
        Package: libc6
        Status: install ok installed
        Priority: optional
        Source: glibc
        Version: 2.36-9+deb12u4
        Description: GNU C Library
         multi-line description
         .
         continues

        Package: zlib1g
        Status: install ok installed
        Source: zlib (1:1.2.13.dfsg-1)
        Version: 1:1.2.13.dfsg-1+b1

        Package: removed-thing
        Status: deinstall ok config-files
        Version: 1.0-1

        Package: bash
        Status: install ok installed
        Version: 5.2.15-2+b2

        """

    @Test func readsDpkgStatusBySourcePackage() {
        let packages = PackageDatabases.dpkgStatus(Self.dpkgStatus, namespace: .debian("12"), path: "var/lib/dpkg/status")
        #expect(packages.map(\.name) == ["glibc", "zlib", "bash"], "removed packages are not installed")
        #expect(packages.map(\.version) == ["2.36-9+deb12u4", "1:1.2.13.dfsg-1", "5.2.15-2+b2"], "the source version when given")
        #expect(packages.map(\.binaryName) == ["libc6", "zlib1g", nil])
    }

    @Test func readsApkPythonRubyJavaAndNpmMetadata() throws {
        let apk = PackageDatabases.apkInstalled("C:Q1abc=\nP:libcrypto3\nV:3.1.4-r1\nA:x86_64\no:openssl\n\nP:busybox\nV:1.36.1-r15\n\n",
                                                namespace: .alpine("v3.19"), path: "lib/apk/db/installed")
        #expect(apk.map(\.name) == ["openssl", "busybox"] && apk.map(\.version) == ["3.1.4-r1", "1.36.1-r15"])
        #expect(apk.first?.binaryName == "libcrypto3")

        let python = try #require(PackageDatabases.pythonMetadata(
            "Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.2\nSummary: x\n\nName: not-this\n", path: "p/METADATA"))
        #expect(python.name == "jinja2" && python.version == "3.1.2" && python.namespace == .pypi)
        #expect(PackageDatabases.pythonMetadata("Name: broken\nVersion: not a version\n", path: "x") == nil)

        let gem = try #require(PackageDatabases.gemspec("""
            Gem::Specification.new do |s|
              s.name = "rack".freeze
              s.version = "2.2.3"
              s.summary = "a = b"
            end
            """, fileName: "rack-2.2.3.gemspec", path: "x"))
        #expect(gem.name == "rack" && gem.version == "2.2.3")
        let fromFileName = try #require(PackageDatabases.gemspec("# generated\n", fileName: "nokogiri-1.15.4-x86_64-linux.gemspec", path: "x"))
        #expect(fromFileName.name == "nokogiri" && fromFileName.version == "1.15.4", "NAME-VERSION-PLATFORM")

        let pom = try #require(PackageDatabases.pomProperties("#Generated\ngroupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion=2.14.1\n", path: "x"))
        #expect(pom.name == "org.apache.logging.log4j:log4j-core" && pom.version == "2.14.1" && pom.namespace == .maven)

        let npm = try #require(PackageDatabases.npmPackage(Array(#"{"name": "lodash", "version": "4.17.20"}"#.utf8), path: "x"))
        #expect(npm.name == "lodash" && npm.version == "4.17.20")
        #expect(PackageDatabases.npmPackage(Array("not json".utf8), path: "x") == nil)
    }

    @Test func readsOSRelease() throws {
        let debian = try #require(Distribution(osRelease: "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n"))
        #expect(debian.namespace == .debian("12") && debian.prettyName == "Debian GNU/Linux 12 (bookworm)")
        #expect(Distribution(osRelease: "ID=alpine\nVERSION_ID=3.19.1\n")?.namespace == .alpine("v3.19"))
        #expect(Distribution(osRelease: "ID=\"rocky\"\nVERSION_ID=\"9.3\"\n")?.namespace?.name == "rocky:9")
        #expect(Distribution(osRelease: "ID=\"sles\"\nVERSION_ID=\"15.5\"\n")?.namespace?.name == "sles:15.5")
        #expect(Distribution(osRelease: "ID=\"opensuse-leap\"\nVERSION_ID=\"15.6\"\n")?.namespace?.name == "opensuse-leap:15.6")
        #expect(Distribution(osRelease: "ID=\"opensuse-tumbleweed\"\nVERSION_ID=\"20241201\"\n")?.namespace?.name == "opensuse-tumbleweed")
        // The same namespaces from OSV's ecosystem names.
        for (ecosystem, name) in [("SUSE:Linux Enterprise Server 15 SP5", "sles:15.5"), ("SUSE:Linux Enterprise Module for Basesystem 15 SP5", "sles:15.5"),
                                  ("SUSE:Linux Enterprise Server 12", "sles:12.0"), ("openSUSE:Leap 15.5", "opensuse-leap:15.5"),
                                  ("openSUSE:Tumbleweed", "opensuse-tumbleweed")] {
            #expect(PackageNamespace(osvEcosystem: ecosystem) == PackageNamespace(name, format: .rpm), "\(ecosystem)")
        }
        #expect(PackageNamespace(osvEcosystem: "SUSE:Linux Enterprise Micro 5.5") == nil, "not a release the product name ends in")
        #expect(PackageNamespace(osvEcosystem: "openSUSE:Leap Micro 5.5") == nil)
        #expect(Distribution(osRelease: "ID=plan9\nVERSION_ID=4\n")?.namespace == nil, "unknown distribution: no namespace")
        #expect(Distribution(osRelease: "garbage") == nil)
    }

    @Test func classifiesPaths() {
        let rows: [(String, MetadataFileKind?)] = [
            ("etc/os-release", .osRelease), ("usr/lib/os-release", .osRelease), ("var/lib/dpkg/status", .dpkgStatus),
            ("var/lib/dpkg/status.d/libc6", .dpkgStatusD), ("var/lib/dpkg/status.d/libc6.md5sums", nil),
            ("lib/apk/db/installed", .apkInstalled), ("var/lib/rpm/rpmdb.sqlite", .rpmSQLite), ("var/lib/rpm/Packages", .rpmBerkeleyDB),
            ("usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA", .pythonMetadata),
            ("usr/lib/python3/dist-packages/foo.egg-info/PKG-INFO", .pythonMetadata),
            ("usr/lib/ruby/gems/3.1.0/specifications/rack-2.2.3.gemspec", .gemspec),
            ("app/lib.jar!/META-INF/maven/org.x/y/pom.properties", .pomProperties),
            ("app/node_modules/lodash/package.json", .npmPackage), ("app/node_modules/@babel/core/package.json", .npmPackage),
            ("app/node_modules/lodash/test/package.json", nil), ("app/package.json", nil), ("etc/passwd", nil),
        ]
        for (path, kind) in rows { #expect(MetadataFileKind.classify(path) == kind, "\(path)") }
        #expect(LayerContents.normalised("./usr//lib/../x/") == "usr/lib/x")
    }

    static func layer(_ files: [String: String], deleting: [String] = []) -> LayerContents {
        var layer = LayerContents()
        for marker in deleting { _ = layer.noteEntry(marker) }
        for (path, text) in files {
            guard let normalised = layer.noteEntry(path), let kind = MetadataFileKind.classify(normalised) else { continue }
            layer.files[normalised] = kind.parse(Array(text.utf8), path: normalised)
        }
        return layer
    }

    @Test func foldsLayersWithWhiteoutsAndAddedBy() throws {
        let base = Self.layer(["etc/os-release": "ID=debian\nVERSION_ID=12\n",
                               "var/lib/dpkg/status": "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2\n",
                               "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA": "Name: six\nVersion: 1.16.0\n"])
        // The second layer installs curl (dpkg rewrites the whole status file) and deletes six.
        let second = Self.layer(["var/lib/dpkg/status": "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2\n\nPackage: curl\nStatus: install ok installed\nVersion: 7.88.1-10\n"],
                                deleting: ["usr/lib/python3/dist-packages/.wh.six-1.16.0.dist-info"])
        // The third hides all of /app from below and adds an npm package there.
        let third = Self.layer(["app/node_modules/lodash/package.json": #"{"name": "lodash", "version": "4.17.20"}"#],
                               deleting: ["app/.wh..wh..opq"])
        let belowThird = Self.layer(["app/node_modules/left-pad/package.json": #"{"name": "left-pad", "version": "1.0.0"}"#])
        let index = ImageIndex(layers: [("sha256:a", base), ("sha256:b", second), ("sha256:c", belowThird), ("sha256:d", third)])
        #expect(index.distribution?.namespace == .debian("12"))
        #expect(index.unsupported.isEmpty)
        let found = index.packages.map { "\($0.package.namespace.name) \($0.package.name) \($0.package.version) \($0.addedBy)" }
        #expect(found == ["debian:12 bash 5.2.15-2 sha256:a", "debian:12 curl 7.88.1-10 sha256:b", "npm lodash 4.17.20 sha256:d"])
    }

    @Test func reportsWhatItCannotMatch() {
        let layer = Self.layer(["etc/os-release": "ID=plan9\nVERSION_ID=4\n",
                                "var/lib/dpkg/status": "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2\n",
                                "var/lib/rpm/Packages": ""])
        let index = ImageIndex(layers: [("sha256:a", layer)])
        #expect(index.unsupported.count == 2)
        #expect(index.unsupported.contains { $0.contains("plan9 4 has no vulnerability data") })
        #expect(index.unsupported.contains { $0.hasPrefix("var/lib/rpm/Packages: rpm Berkeley DB") })
    }
}
