// Layers read through libarchive: real tar files (gzip, zstd, plain) written by Python's
// tarfile in the test, including the hostile kinds (traversal names, whiteouts, corrupt gzip,
// too many entries, oversized metadata), and jars with pom.properties nested in a war.

import Foundation
import Scanner
import Testing

@Suite("Layer reader")
struct LayerReaderTests {
    /// Writes layers with Python's tarfile/zipfile into a fresh directory and returns it.
    static func makeLayers() throws -> URL {
        let directory = try FixtureScript.directory("layers")
        let script = #"""
            import io, os, subprocess, sys, tarfile, zipfile
            out = sys.argv[1]
            def add(tar, name, data=b"", kind=tarfile.REGTYPE, link=""):
                info = tarfile.TarInfo(name); info.type = kind; info.size = len(data) if kind == tarfile.REGTYPE else 0; info.linkname = link
                tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
            def jar(files):
                buf = io.BytesIO()
                with zipfile.ZipFile(buf, "w") as z:
                    for name, data in files.items(): z.writestr(name, data)
                return buf.getvalue()
            log4j = jar({"META-INF/MANIFEST.MF": b"x", "META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties":
                         b"groupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion=2.14.1\n"})
            war = jar({"WEB-INF/lib/log4j-core-2.14.1.jar": log4j, "index.html": b"hi"})
            with tarfile.open(os.path.join(out, "base.tar.gz"), "w:gz") as t:
                add(t, "./etc/os-release", b'ID=debian\nVERSION_ID="12"\n')
                add(t, "var/lib/dpkg/status", b"Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2\n")
                add(t, "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA", b"Name: six\nVersion: 1.16.0\n")
                add(t, "../../../etc/passwd-escape/usr/lib/os-release", b"ID=evil\n")
                add(t, "var/lib/dpkg/status-link", kind=tarfile.SYMTYPE, link="/etc/shadow")
                add(t, "opt/app/app.war", war)
                add(t, "opt/app/broken.jar", b"PK\x03\x04 not really a zip")
            with tarfile.open(os.path.join(out, "top.tar"), "w") as t:
                add(t, "usr/lib/python3/dist-packages/.wh.six-1.16.0.dist-info")
                add(t, "opt/.wh..wh..opq")
                add(t, "etc/os-release", b"ID=debian\n" + b"#" * (2 << 20))
            subprocess.run(["zstd", "-q", "-f", os.path.join(out, "top.tar"), "-o", os.path.join(out, "top.tar.zst")], check=True)
            with tarfile.open(os.path.join(out, "many.tar"), "w") as t:
                for i in range(10): add(t, f"f{i}", b"x")
            good = open(os.path.join(out, "base.tar.gz"), "rb").read()
            open(os.path.join(out, "corrupt.tar.gz"), "wb").write(good[:60] + b"\0" * 200 + good[260:])
            open(os.path.join(out, "notatar"), "wb").write(b"hello, world\n" * 100)
            """#
        try FixtureScript.run(.python, script, [directory.path], what: "the test layers")
        return directory
    }

    @Test func indexesALayerAndAppliesTheNextOnesWhiteouts() throws {
        let directory = try Self.makeLayers()
        defer { try? FileManager.default.removeItem(at: directory) }
        let base = try LayerReader.read(path: directory.appendingPathComponent("base.tar.gz").path)
        #expect(Set(base.files.keys) == ["etc/os-release", "var/lib/dpkg/status", "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
                                         "opt/app/app.war!/WEB-INF/lib/log4j-core-2.14.1.jar!/META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties"],
                "a traversal name is only a name: normalised, not classified as the image's os-release; the symlink is not read")
        let log4j = base.files.values.flatMap(\.packages).first { $0.namespace == .maven }
        #expect(log4j?.name == "org.apache.logging.log4j:log4j-core" && log4j?.version == "2.14.1", "found inside the jar inside the war")

        let top = try LayerReader.read(path: directory.appendingPathComponent("top.tar.zst").path)
        #expect(top.whiteouts == ["usr/lib/python3/dist-packages/six-1.16.0.dist-info"] && top.opaqueDirectories == ["opt"])
        #expect(top.files["etc/os-release"]?.unsupported?.contains("larger than") == true, "a 2 MiB os-release is not read")

        let index = ImageIndex(layers: [("sha256:base", base), ("sha256:top", top)])
        #expect(index.packages.map(\.package.name) == ["bash"], "six whited out, the war's directory made opaque")
        #expect(index.distribution?.namespace == nil, "the top layer's oversized os-release replaced the base's")
    }

    @Test func refusesDamagedOrHostileLayers() throws {
        let directory = try Self.makeLayers()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(throws: LayerReadError.self) { try LayerReader.read(path: directory.appendingPathComponent("corrupt.tar.gz").path) }
        #expect(throws: LayerReadError.self) { try LayerReader.read(path: directory.appendingPathComponent("notatar").path) }
        #expect(throws: LayerReadError.self) { try LayerReader.read(path: directory.appendingPathComponent("missing").path) }
        var limits = LayerLimits()
        limits.maximumEntries = 5
        #expect(throws: LayerReadError("the layer has more than 5 entries")) {
            try LayerReader.read(path: directory.appendingPathComponent("many.tar").path, limits: limits)
        }
        limits = LayerLimits()
        limits.maximumUncompressedBytes = 1024
        #expect(throws: LayerReadError.self) { try LayerReader.read(path: directory.appendingPathComponent("top.tar.zst").path, limits: limits) }
    }
}
