import Testing
@testable import BuildWorker

@Suite("Archive path rules")
struct ArchivePathTests {
    @Test("entry names normalise to relative paths", arguments: [
        ("Dockerfile", "Dockerfile"), ("./Dockerfile", "Dockerfile"), ("a//b/./c/", "a/b/c"),
        ("./", "."), ("...", "..."), ("a/..b", "a/..b"), ("café/x", "café/x"),
    ])
    func normalises(raw: String, expected: String) throws {
        let path = try ArchivePath.normalising(raw, maxLength: 4096).get()
        #expect(path.description == expected)
    }

    @Test("absolute names, '..' components and over-long names are refused", arguments: [
        ("/etc/pw", ArchivePath.Violation.absolute), ("//x", .absolute), ("..", .parentComponent),
        ("a/../b", .parentComponent), ("a/b/..", .parentComponent), ("", .empty),
        (String(repeating: "x", count: 11), .tooLong(limit: 10)),
    ])
    func refuses(raw: String, violation: ArchivePath.Violation) {
        #expect(throws: violation) { try ArchivePath.normalising(raw, maxLength: 10).get() }
    }

    @Test("Dockerfile paths accept Quay's leading slash but never leave the context", arguments: [
        ("Dockerfile", "Dockerfile" as String?), ("/Dockerfile", "Dockerfile"), ("/sub/dir/Dockerfile", "sub/dir/Dockerfile"),
        ("../Dockerfile", nil), ("/", nil), ("", nil), ("sub/../../x", nil),
    ])
    func dockerfilePaths(raw: String, expected: String?) {
        #expect(ArchivePath.dockerfile(raw)?.description == expected)
    }

    @Test("symlink targets: only leading '..', no deeper than the link's directory", arguments: [
        ("link", "target", SymlinkTargetVerdict.allowed),
        ("link", "./a/b/../", .parentAfterName),
        ("link", "..", .escapes),
        ("link", ".", .allowed),
        ("a/link", "..", .allowed),
        ("a/link", "../b/c", .allowed),
        ("a/link", "../..", .escapes),
        ("a/b/link", "../../x", .allowed),
        ("a/b/link", "../../../x", .escapes),
        ("a/b/link", "x/../..", .parentAfterName),
        ("a/link", "/etc", .absolute),
        ("a/link", "", .empty),
        ("a/link", "..//./../", .escapes),
    ])
    func symlinkTargets(link: String, target: String, verdict: SymlinkTargetVerdict) throws {
        let path = try ArchivePath.normalising(link, maxLength: 4096).get()
        #expect(path.symlinkVerdict(target: target) == verdict)
    }

    @Test("byte counts read naturally in messages")
    func byteCounts() {
        #expect(formatByteCount(10 << 20) == "10 MiB")
        #expect(formatByteCount(1 << 30) == "1 GiB")
        #expect(formatByteCount(1536) == "1.5 KiB")
        #expect(formatByteCount(512) == "512 bytes")
    }
}
