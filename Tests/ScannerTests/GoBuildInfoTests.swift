// Go executables' module build info, from ELF files crafted by the test (Go is not installed
// here): the blob at a 16-aligned offset across a read-chunk boundary, a decoy magic before it,
// the pre-1.18 pointer format, and files that must not be searched (not executable, not ELF).

import Foundation
import Scanner
import Testing

@Suite("Go build info")
struct GoBuildInfoTests {
    static let moduleInfo = """
        path\texample.com/app
        mod\texample.com/app\t(devel)\t
        dep\tgolang.org/x/text\tv0.3.7\th1:olpwvP2KacW1ZWvsR7uQhoyTYvKAupfQrRGBFM352Gk=
        dep\tgithub.com/old/lib\tv1.0.0
        =>\tgithub.com/fork/lib\tv1.0.1\th1:abc=
        dep\tgolang.org/x/net\tv0.0.0-20211209124913-491a49abca63\th1:def=
        build\t-compiler=gc

        """

    /// Writes a layer of crafted executables with Python and returns its directory.
    static func makeLayer() throws -> URL {
        let directory = try FixtureScript.directory("gobin")
        let script = #"""
            import io, os, sys, tarfile
            out, modinfo = sys.argv[1], sys.argv[2].encode()
            MAGIC = b"\xff Go buildinf:"
            def uvarint(n):
                b = b""
                while n >= 0x80: b += bytes([n & 0x7f | 0x80]); n >>= 7
                return b + bytes([n])
            def blob(version, flags=2):
                framed = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6" + modinfo + b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
                return MAGIC + bytes([8, flags]) + b"\0" * 16 + uvarint(len(version)) + version + uvarint(len(framed)) + framed
            def elf(at, payload):
                data = bytearray(b"\x7fELF\x02\x01\x01" + b"\0" * 9)
                data += b"\x90" * (at - len(data))
                data[100:100 + len(MAGIC)] = MAGIC          # unaligned: not build info
                data[4096:4096 + 16] = MAGIC + b"\x41\x02"  # aligned, impossible pointer size: a decoy
                return bytes(data) + payload + b"\0" * 5000
            def add(tar, name, data, mode=0o755):
                info = tarfile.TarInfo(name); info.size = len(data); info.mode = mode; tar.addfile(info, io.BytesIO(data))
            # 65536 - 16: the header straddles libarchive's 64 KiB reads.
            go = elf(65536 - 16, blob(b"go1.21.5"))
            with tarfile.open(os.path.join(out, "go.tar.gz"), "w:gz") as t:
                add(t, "usr/local/bin/app", go)
                add(t, "usr/local/bin/old", elf(8192, blob(b"go1.16", flags=0)))
                add(t, "srv/app.copy", go, mode=0o644)
                add(t, "usr/local/bin/script", b"#!/bin/sh\n" + blob(b"go1.21.5"))
                add(t, "usr/local/bin/c-program", elf(4096 * 3, b"\0" * 64))
            """#
        try FixtureScript.run(.python, script, [directory.path, moduleInfo], what: "the test layer")
        return directory
    }

    @Test func readsModulesOfGoExecutablesOnly() throws {
        let directory = try Self.makeLayer()
        defer { try? FileManager.default.removeItem(at: directory) }
        let layer = try LayerReader.read(path: directory.appendingPathComponent("go.tar.gz").path)
        #expect(Set(layer.files.keys) == ["usr/local/bin/app", "usr/local/bin/old"],
                "not executable, not ELF and not Go are all skipped")
        let packages = try #require(layer.files["usr/local/bin/app"]?.packages)
        #expect(packages.map(\.namespace).allSatisfy { $0 == .go })
        #expect(packages.map { "\($0.name)@\($0.version)" } == [
            "stdlib@1.21.5", "golang.org/x/text@0.3.7", "github.com/fork/lib@1.0.1",
            "golang.org/x/net@0.0.0-20211209124913-491a49abca63",
        ], "the (devel) main module has no version to match; the replacement is what was built")
        #expect(packages.allSatisfy { $0.path == "usr/local/bin/app" })
        #expect(layer.files["usr/local/bin/old"]?.unsupported?.contains("before Go 1.18") == true)
    }

    @Test func goVersionsAsOSVSpellsThem() {
        let cases: [(String, String?)] = [
            ("go1.21.5", "1.21.5"), ("go1.22", "1.22.0"), ("go1.21rc2", "1.21.0-rc.2"), ("go1.20beta1", "1.20.0-beta.1"),
            ("go1.20.1 X:boringcrypto", "1.20.1"), ("devel go1.23-abcdef", nil), ("go", nil),
        ]
        for (text, expected) in cases {
            let packages = GoBuildInfo(goVersion: text, moduleInfo: "").packages(path: "x")
            #expect(packages.first?.version == expected, "\(text)")
        }
    }
}
