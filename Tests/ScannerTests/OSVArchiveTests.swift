// OSV's per-ecosystem `all.zip` exports read as one feed file: a zip written by Python's
// zipfile with one advisory per JSON file, a broken entry and a file that is not JSON.

import Foundation
import Scanner
import Testing

@Suite("OSV all.zip")
struct OSVArchiveTests {
    @Test func readsEveryAdvisoryOfAnExport() throws {
        let directory = try FixtureScript.directory("osvzip")
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = #"""
            import json, sys, zipfile
            def osv(id, name, fixed):
                return json.dumps({"id": id, "modified": "2024-01-01T00:00:00Z", "affected": [{"package": {"ecosystem": "PyPI", "name": name},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]})
            with zipfile.ZipFile(sys.argv[1] + "/all.zip", "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("GHSA-1111.json", osv("GHSA-1111", "Jinja2", "3.1.3"))
                z.writestr("PYSEC-2222.json", osv("PYSEC-2222", "requests", "2.31.0"))
                z.writestr("BROKEN-3333.json", "{not json")
                z.writestr("README", "not an advisory")
            open(sys.argv[1] + "/cut.zip", "wb").write(open(sys.argv[1] + "/all.zip", "rb").read()[:120])
            """#
        try FixtureScript.run(.python, script, [directory.path], what: "the OSV export")

        let file = try FeedFile.read(directory.appendingPathComponent("all.zip").path)
        #expect(file.format == .osv)
        #expect(file.result.advisories.map(\.id).sorted() == ["GHSA-1111", "PYSEC-2222"])
        #expect(file.result.skipped.map(\.id) == ["BROKEN-3333.json"], "the broken entry is skipped with its reason, README ignored")
        #expect(throws: FeedError.self, "a zip is not a Debian tracker file") {
            try FeedFile.read(directory.appendingPathComponent("all.zip").path, format: .debianTracker)
        }
        #expect(throws: FeedError.self, "a cut-off archive imports nothing") {
            try FeedFile.read(directory.appendingPathComponent("cut.zip").path)
        }
    }
}
