// rpm's SQLite database read out of a layer: a real rpmdb.sqlite written by Debian's `rpm`
// (packages built with `rpmbuild` and installed with `rpm -i --justdb` into a database of the
// test's own), put in a layer with Python's tarfile, next to damaged and hostile databases.

import Foundation
import Scanner
import Testing

@Suite("rpm database")
struct RPMDatabaseTests {
    /// Builds two packages, installs them into a fresh sqlite rpmdb and writes layers holding it
    /// (and bad databases) into a fresh directory.
    static func makeLayers() throws -> URL {
        let directory = try FixtureScript.directory("rpmdb")
        let script = #"""
            set -eu
            out="$1"; cd "$out"
            spec() { # name epoch version release source
              cat > "$1.spec" <<SPEC
            Name: $1
            ${2:+Epoch: $2}
            Version: $3
            Release: $4
            Summary: test package
            License: MIT
            BuildArch: noarch
            %description
            test
            %files
            SPEC
              rpmbuild --quiet --define "_topdir $out/top" -bb "$1.spec" >/dev/null 2>&1
            }
            spec openssl-libs 1 3.0.7 24.el9
            spec bash "" 5.1.8 6.el9_1
            mkdir db
            rpm --define "_db_backend sqlite" --initdb --dbpath "$out/db"
            rpm --define "_db_backend sqlite" -i --justdb --nodeps --ignorearch --ignoreos --dbpath "$out/db" top/RPMS/noarch/*.rpm 2>/dev/null
            python3 - "$out" <<'PY'
            import io, os, sqlite3, sys, tarfile
            out = sys.argv[1]
            def add(tar, name, data):
                info = tarfile.TarInfo(name); info.size = len(data); tar.addfile(info, io.BytesIO(data))
            good = open(os.path.join(out, "db", "rpmdb.sqlite"), "rb").read()
            with tarfile.open(os.path.join(out, "rocky.tar.gz"), "w:gz") as t:
                add(t, "etc/os-release", b'ID="rocky"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3"\n')
                add(t, "var/lib/rpm/rpmdb.sqlite", good)
            with tarfile.open(os.path.join(out, "garbage.tar"), "w") as t:
                add(t, "usr/lib/sysimage/rpm/rpmdb.sqlite", b"SQLite format 3\0" + b"\xff" * 4000)
            other = os.path.join(out, "other.sqlite")
            db = sqlite3.connect(other); db.execute("CREATE TABLE Name (key TEXT)"); db.commit(); db.close()
            bad = os.path.join(out, "badblobs.sqlite")
            db = sqlite3.connect(bad)
            db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL)")
            db.execute("INSERT INTO Packages (blob) VALUES (?)", (b"\x00\x00\xff\xff\x7f\xff\xff\xff" + b"\x01" * 64,))
            db.commit(); db.close()
            with tarfile.open(os.path.join(out, "hostile.tar"), "w") as t:
                add(t, "var/lib/rpm/rpmdb.sqlite", open(other, "rb").read())
                add(t, "usr/lib/sysimage/rpm/rpmdb.sqlite", open(bad, "rb").read())
            PY
            """#
        try FixtureScript.run(.bash, script, [directory.path], what: "the rpm database (Debian's rpm package installed?)")
        return directory
    }

    @Test func readsARealRPMDatabaseOutOfALayer() throws {
        let directory = try Self.makeLayers()
        defer { try? FileManager.default.removeItem(at: directory) }
        let layer = try LayerReader.read(path: directory.appendingPathComponent("rocky.tar.gz").path)
        let database = try #require(layer.files["var/lib/rpm/rpmdb.sqlite"])
        #expect(database.unsupported == nil)
        #expect(database.packages.map(\.name).sorted() == ["bash", "openssl-libs"])

        let index = ImageIndex(layers: [("sha256:rocky", layer)])
        #expect(index.unsupported.isEmpty, "\(index.unsupported)")
        let packages = Dictionary(uniqueKeysWithValues: index.packages.map { ($0.package.name, $0.package) })
        #expect(packages["openssl-libs"]?.version == "1:3.0.7-24.el9", "EVR with the epoch")
        #expect(packages["bash"]?.version == "5.1.8-6.el9_1", "no epoch, none written")
        #expect(packages["bash"]?.namespace == PackageNamespace("rocky:9", format: .rpm), "bound to the distribution from os-release")
        #expect(packages["openssl-libs"]?.path == "var/lib/rpm/rpmdb.sqlite")
    }

    @Test func reportsDamagedAndHostileDatabasesWithoutFailingTheLayer() throws {
        let directory = try Self.makeLayers()
        defer { try? FileManager.default.removeItem(at: directory) }
        let garbage = try LayerReader.read(path: directory.appendingPathComponent("garbage.tar").path)
        let reason = try #require(garbage.files["usr/lib/sysimage/rpm/rpmdb.sqlite"]?.unsupported)
        #expect(reason.hasPrefix("the rpm database cannot be read"), "\(reason)")

        let hostile = try LayerReader.read(path: directory.appendingPathComponent("hostile.tar").path)
        #expect(hostile.files["var/lib/rpm/rpmdb.sqlite"]?.unsupported?.contains("no Packages table") == true)
        #expect(hostile.files["usr/lib/sysimage/rpm/rpmdb.sqlite"]?.unsupported?.contains("no readable package headers") == true)
    }

    @Test func headerParserRejectsBlobsThatPointOutsideThemselves() {
        // il = 1, dl = 4, one NAME entry (STRING) at offset 0: "ab\0" fits.
        let good: [UInt8] = [0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0x03, 0xe8, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 1] + Array("ab\0\0".utf8)
        #expect(RPMHeader(good)?.string(.name) == "ab")
        #expect(RPMHeader(Array(good.dropLast(2))) == nil, "data shorter than dl")
        var badOffset = good
        badOffset[19] = 9
        #expect(RPMHeader(badOffset) == nil, "an offset past the data")
        var unterminated = good
        unterminated.replaceSubrange(24..<28, with: Array("abcd".utf8))
        #expect(RPMHeader(unterminated) == nil, "a string without its NUL")
        #expect(RPMHeader([0, 0, 0, 0, 0, 0, 0, 0]) == nil, "no entries")
        #expect(RPMHeader([0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]) == nil, "absurd entry count")
    }
}
