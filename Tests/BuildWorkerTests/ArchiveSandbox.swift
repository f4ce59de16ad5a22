// A scratch directory per test in which archives (honest and evil) are built with Python's
// tarfile/zipfile, extracted, and checked for anything written where it should not be.

import Foundation
import Testing

/// Layout:
///
///     <root>/
///       in/<upload>        the archive under test
///       work/              parent of the extraction directory; must end up holding only `ctx`
///         ctx/             the extraction directory
///
/// Entries such as `../x` or `../../x` would land in `work/` or `<root>/`, so "nothing outside"
/// is checked by listing both.
final class ArchiveSandbox {
    let root: URL
    let input: URL
    let work: URL
    let target: URL

    init() throws {
        root = FileManager.default.temporaryDirectory
            .appendingPathComponent("slipway-context-\(UUID().uuidString)")
        input = root.appendingPathComponent("in")
        work = root.appendingPathComponent("work")
        target = work.appendingPathComponent("ctx")
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: root)
    }

    /// Runs `script` with the helpers below; it writes the archive to `OUT`.
    func python(_ script: String, name: String = "upload.bin") throws -> URL {
        let output = input.appendingPathComponent(name)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.prelude + script]
        var environment = ProcessInfo.processInfo.environment
        environment["OUT"] = output.path
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SandboxError(message: "python failed: \(String(decoding: stderr, as: UTF8.self))")
        }
        return output
    }

    /// Runs a command (for archives made by the real `tar`/`zip` tools).
    func run(_ arguments: [String], in directory: URL) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SandboxError(message: "\(arguments.joined(separator: " ")) failed")
        }
    }

    func write(_ data: Data, name: String = "upload.bin") throws -> URL {
        let url = input.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    /// Everything in the sandbox outside `in/` and the extraction directory, recursively.
    func strayFiles() -> [String] {
        let fm = FileManager.default
        var stray: [String] = []
        for name in (try? fm.contentsOfDirectory(atPath: root.path)) ?? [] where name != "in" && name != "work" {
            stray.append(name)
        }
        for name in (try? fm.contentsOfDirectory(atPath: work.path)) ?? [] where name != "ctx" {
            stray.append("work/\(name)")
        }
        return stray
    }

    /// After a refused archive: the extraction directory is gone and nothing leaked next to it.
    func expectCleanedUp(sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!FileManager.default.fileExists(atPath: target.path), "extraction directory left behind",
                sourceLocation: sourceLocation)
        #expect(strayFiles() == [], "files written outside the extraction directory", sourceLocation: sourceLocation)
    }

    /// Removes what a successful extraction left so the sandbox can take another archive.
    func resetTarget() throws {
        if FileManager.default.fileExists(atPath: target.path) {
            try FileManager.default.removeItem(at: target)
        }
    }

    func contents(_ relative: String) throws -> String {
        try String(contentsOf: target.appendingPathComponent(relative), encoding: .utf8)
    }

    func lstatInfo(_ relative: String) -> stat? {
        var info = stat()
        guard lstat(target.appendingPathComponent(relative).path, &info) == 0 else { return nil }
        return info
    }

    static let prelude = #"""
import io, os, sys, tarfile, zipfile, gzip, stat
OUT = os.environ["OUT"]
DOCKERFILE = b"FROM scratch\nCOPY . /\n"

def info(name, type=tarfile.REGTYPE, mode=0o644, size=0, linkname=""):
    ti = tarfile.TarInfo(name)
    ti.type = type
    ti.mode = mode
    ti.size = size
    ti.linkname = linkname
    ti.mtime = 1700000000
    ti.uid = ti.gid = 4242
    ti.uname = ti.gname = "nobody-in-particular"
    return ti

def add_file(tf, name, data=b"", mode=0o644):
    tf.addfile(info(name, mode=mode, size=len(data)), io.BytesIO(data))

def add_dir(tf, name, mode=0o755):
    tf.addfile(info(name, tarfile.DIRTYPE, mode))

def add_symlink(tf, name, target):
    tf.addfile(info(name, tarfile.SYMTYPE, 0o777, linkname=target))

def add_hardlink(tf, name, target):
    tf.addfile(info(name, tarfile.LNKTYPE, linkname=target))

def add_special(tf, name, type):
    ti = info(name, type, 0o666)
    ti.devmajor, ti.devminor = 1, 3
    tf.addfile(ti)

def tar(mode="w"):
    return tarfile.open(OUT, mode, format=tarfile.PAX_FORMAT)

def zip_symlink(zf, name, target):
    zi = zipfile.ZipInfo(name)
    zi.create_system = 3
    zi.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(zi, target)

def zip_file(zf, name, data, mode=0o644):
    zi = zipfile.ZipInfo(name, date_time=(2024, 1, 2, 3, 4, 6))
    zi.create_system = 3
    zi.external_attr = (stat.S_IFREG | mode) << 16
    zi.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(zi, data)

"""#
}

struct SandboxError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
