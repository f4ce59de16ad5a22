import Foundation
import NIOPosix
import Testing
@testable import BuildWorker

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Build context extraction")
struct BuildContextExtractorTests {
    let extractor = BuildContextExtractor()

    /// Extracts and expects a refusal with `code` whose message contains `fragment`, then checks
    /// that nothing was left behind anywhere in the sandbox.
    @discardableResult
    func expectRefusal(_ upload: URL, in sandbox: ArchiveSandbox, _ code: BuildContextError.Code,
                       _ fragment: String, dockerfilePath: String = "Dockerfile",
                       limits: ExtractionLimits = ExtractionLimits(),
                       sourceLocation: SourceLocation = #_sourceLocation) async -> BuildContextError? {
        do {
            let context = try await extractor.extract(from: upload, into: sandbox.target,
                                                      dockerfilePath: dockerfilePath, limits: limits)
            Issue.record("expected \(code), extracted \(context)", sourceLocation: sourceLocation)
            return nil
        } catch {
            #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
            #expect(error.message.contains(fragment), "message was: \(error.message)", sourceLocation: sourceLocation)
            sandbox.expectCleanedUp(sourceLocation: sourceLocation)
            return error
        }
    }

    // MARK: - Accepted uploads

    static let tarModes: [(mode: String, format: BuildContextFormat)] = [
        ("w", .tar), ("w:gz", .tarGzip), ("w:xz", .tarXz), ("w:bz2", .tarBzip2),
    ]

    @Test("every tar flavour is detected by content and extracted", arguments: [0, 1, 2, 3])
    func tarFormats(index: Int) async throws {
        let (mode, format) = Self.tarModes[index]
        let sandbox = try ArchiveSandbox()
        // The name says nothing about the format: detection is by content.
        let upload = try sandbox.python("""
            with tar("\(mode)") as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                add_dir(tf, "src")
                add_dir(tf, "src/app", 0o750)
                add_file(tf, "src/app/main.sh", b"echo hi\\n", 0o755)
                add_file(tf, "src/app/suid", b"x", 0o4755)
                add_file(tf, "src/café.txt", "crème".encode())
                add_symlink(tf, "latest", "src/app/main.sh")
                add_symlink(tf, "src/app/up", "../café.txt")
                add_hardlink(tf, "src/again.sh", "src/app/main.sh")
            """)
        let context = try await extractor.extract(from: upload, into: sandbox.target)
        #expect(context.format == format)
        #expect(context.entryCount == 9)
        #expect(context.totalBytes == DockerfileText.count + 8 + 1 + "crème".utf8.count)
        #expect(context.dockerfile == sandbox.target.appendingPathComponent("Dockerfile"))
        #expect(try sandbox.contents("Dockerfile") == DockerfileText)
        #expect(try sandbox.contents("src/app/main.sh") == "echo hi\n")
        #expect(try sandbox.contents("src/café.txt") == "crème")
        #expect(try sandbox.contents("latest") == "echo hi\n")
        #expect(try sandbox.contents("src/app/up") == "crème")

        let script = try #require(sandbox.lstatInfo("src/app/main.sh"))
        #expect(script.st_mode & 0o7777 == 0o755)
        #expect(script.st_uid == getuid(), "ownership from the archive must not be applied")
        #expect(script.st_mtim.tv_sec == 1_700_000_000)
        #expect(try #require(sandbox.lstatInfo("src/app/suid")).st_mode & 0o7777 == 0o755, "set-user-ID must be dropped")
        #expect(try #require(sandbox.lstatInfo("src/app")).st_mode & 0o777 == 0o750)
        #expect(try #require(sandbox.lstatInfo("latest")).st_mode & S_IFMT == S_IFLNK)
        #expect(try #require(sandbox.lstatInfo("src/again.sh")).st_ino == script.st_ino)
    }

    @Test("zip archives, including symlinks and directories, are extracted")
    func zipFormat() async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.python("""
            with zipfile.ZipFile(OUT, "w") as zf:
                zip_file(zf, "Dockerfile", DOCKERFILE)
                zf.writestr("docs/", b"")
                zip_file(zf, "docs/readme.md", b"# hello\\n")
                zip_file(zf, "bin/tool", b"#!/bin/sh\\n", 0o755)
                zip_file(zf, "naïve.txt", b"unicode")
                zip_symlink(zf, "docs/link", "readme.md")
            """)
        let context = try await extractor.extract(from: upload, into: sandbox.target)
        #expect(context.format == .zip)
        #expect(try sandbox.contents("Dockerfile") == DockerfileText)
        #expect(try sandbox.contents("docs/readme.md") == "# hello\n")
        #expect(try sandbox.contents("docs/link") == "# hello\n")
        #expect(try sandbox.contents("naïve.txt") == "unicode")
        #expect(try #require(sandbox.lstatInfo("bin/tool")).st_mode & 0o777 == 0o755)
        #expect(try #require(sandbox.lstatInfo("docs/link")).st_mode & S_IFMT == S_IFLNK)
    }

    @Test("archives made by the system tar and zip tools are extracted")
    func realTools() async throws {
        let sandbox = try ArchiveSandbox()
        let source = sandbox.root.appendingPathComponent("src")
        try FileManager.default.createDirectory(at: source.appendingPathComponent("app/lib"), withIntermediateDirectories: true)
        try Data(DockerfileText.utf8).write(to: source.appendingPathComponent("Dockerfile"))
        try Data("code".utf8).write(to: source.appendingPathComponent("app/lib/x.swift"))
        try FileManager.default.createSymbolicLink(atPath: source.appendingPathComponent("app/current").path,
                                                   withDestinationPath: "lib")
        try sandbox.run(["tar", "-cJf", sandbox.input.appendingPathComponent("ctx.txz").path, "."], in: source)
        try sandbox.run(["zip", "-qry", sandbox.input.appendingPathComponent("ctx.zip").path, "."], in: source)

        for (name, format) in [("ctx.txz", BuildContextFormat.tarXz), ("ctx.zip", .zip)] {
            let target = sandbox.work.appendingPathComponent(name)
            let context = try await extractor.extract(from: sandbox.input.appendingPathComponent(name), into: target)
            #expect(context.format == format)
            #expect(try String(contentsOf: target.appendingPathComponent("app/current/x.swift"), encoding: .utf8) == "code")
            #expect(try String(contentsOf: context.dockerfile, encoding: .utf8) == DockerfileText)
        }
        try FileManager.default.removeItem(at: source)
    }

    @Test("a bare text Dockerfile becomes a one-file context at the Dockerfile path")
    func bareDockerfile() async throws {
        let sandbox = try ArchiveSandbox()
        let text = "# syntax=docker/dockerfile:1\r\nFROM alpine:3.20\n\tRUN echo \"héllo\"\n"
        let upload = try sandbox.write(Data(text.utf8))
        let context = try await extractor.extract(from: upload, into: sandbox.target, dockerfilePath: "/build/Dockerfile")
        #expect(context.format == .dockerfile)
        #expect(context.entryCount == 1)
        #expect(context.totalBytes == text.utf8.count)
        #expect(context.dockerfile == sandbox.target.appendingPathComponent("build/Dockerfile"))
        #expect(try sandbox.contents("build/Dockerfile") == text)
    }

    @Test("an existing empty extraction directory is used and stays after a refusal")
    func existingEmptyDirectory() async throws {
        let sandbox = try ArchiveSandbox()
        try FileManager.default.createDirectory(at: sandbox.target, withIntermediateDirectories: false)
        let upload = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                add_file(tf, "../escape", b"x")
            """)
        await #expect(throws: BuildContextError.self) {
            try await extractor.extract(from: upload, into: sandbox.target)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: sandbox.target.path) == [])
        #expect(sandbox.strayFiles() == [])
    }

    @Test("the Dockerfile may live in a subdirectory when the path says so")
    func dockerfileInSubdirectory() async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.python("""
            with tar("w:gz") as tf:
                add_file(tf, "project/app/Dockerfile", DOCKERFILE)
                add_file(tf, "project/README", b"r")
            """)
        let error = await expectRefusal(upload, in: sandbox, .missingDockerfile, "no Dockerfile at 'Dockerfile'")
        #expect(error?.message.contains("'project/app/Dockerfile'") == true, "the message should suggest the Dockerfile it saw")

        let context = try await extractor.extract(from: upload, into: sandbox.target, dockerfilePath: "/project/app/Dockerfile")
        #expect(context.dockerfile == sandbox.target.appendingPathComponent("project/app/Dockerfile"))
    }

    // MARK: - Not an archive

    @Test("a binary blob that is not an archive is refused")
    func binaryBlob() async throws {
        let sandbox = try ArchiveSandbox()
        var generator = SystemRandomNumberGenerator()
        let blob = Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) } + [0, 0, 1, 2])
        let upload = try sandbox.write(blob)
        await expectRefusal(upload, in: sandbox, .unsupportedUpload, "neither a supported archive")
    }

    @Test("compressed data that is not a tar archive is refused")
    func compressedNonTar() async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.python("""
            with gzip.open(OUT, "wb") as f:
                f.write(DOCKERFILE)
            """)
        await expectRefusal(upload, in: sandbox, .unsupportedUpload, "gzip compressed but does not contain a tar archive")
    }

    @Test("an empty upload is refused")
    func emptyUpload() async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.write(Data())
        await expectRefusal(upload, in: sandbox, .emptyUpload, "empty")
    }

    @Test("a text upload over the bare Dockerfile cap is refused")
    func oversizedBareDockerfile() async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.write(Data(String(repeating: "RUN true\n", count: 200).utf8))
        await expectRefusal(upload, in: sandbox, .limitExceeded, "larger than 1 KiB",
                            limits: ExtractionLimits(maxDockerfileBytes: 1024))
    }

    // MARK: - Evil archives

    @Test("'..' in an entry name is refused", arguments: ["../x", "sub/../../x", "./../../outside-root"])
    func traversal(name: String) async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                add_file(tf, "sub/ok", b"ok")
                add_file(tf, "\(name)", b"pwned")
            """)
        await expectRefusal(upload, in: sandbox, .pathEscapesContext,
                            "archive entry '\(name)' escapes the build context")
    }

    @Test("an absolute entry name is refused, in tar and zip")
    func absolutePath() async throws {
        let sandbox = try ArchiveSandbox()
        let outside = "/tmp/slipway-evil-\(UUID().uuidString)"
        let tarUpload = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                add_file(tf, "\(outside)", b"pwned")
            """, name: "abs.tar")
        await expectRefusal(tarUpload, in: sandbox, .pathEscapesContext, "archive entry '\(outside)' has an absolute path")

        let zipUpload = try sandbox.python("""
            with zipfile.ZipFile(OUT, "w") as zf:
                zip_file(zf, "Dockerfile", DOCKERFILE)
                zip_file(zf, "\(outside)", b"pwned")
            """, name: "abs.zip")
        await expectRefusal(zipUpload, in: sandbox, .pathEscapesContext, "has an absolute path")
        #expect(!FileManager.default.fileExists(atPath: outside))
    }

    @Test("a symlink to /etc, then a file through it, is refused at the symlink")
    func symlinkToEtc() async throws {
        let sandbox = try ArchiveSandbox()
        let name = "slipway-evil-\(UUID().uuidString)"
        let upload = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                add_symlink(tf, "etc", "/etc")
                add_file(tf, "etc/\(name)", b"pwned")
            """)
        await expectRefusal(upload, in: sandbox, .linkEscapesContext,
                            "archive entry 'etc' is a symbolic link to '/etc', which points outside the build context")
        #expect(!FileManager.default.fileExists(atPath: "/etc/\(name)"))
    }

    @Test("symlinks that climb out of the context are refused",
          arguments: [("a", "../../"), ("a", ".."), ("sub/a", "../.."), ("sub/a", "../../etc/passwd"), ("a", "./x/../../..")])
    func escapingSymlink(link: String, target: String) async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                add_symlink(tf, "\(link)", "\(target)")
                add_file(tf, "\(link)/pwned", b"pwned")
            """)
        await expectRefusal(upload, in: sandbox, .linkEscapesContext,
                            "archive entry '\(link)' is a symbolic link to '\(target)'")
    }

    @Test("a link target that is only safe lexically is refused (x -> .., y -> x/../..)")
    func lexicallySafeSymlinkChain() async throws {
        let sandbox = try ArchiveSandbox()
        // Lexically `d/x/../..` is the context root; physically `d/x` is the root, so it is the
        // root's parent.
        let upload = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                add_symlink(tf, "d/x", "..")
                add_symlink(tf, "d/y", "x/../..")
            """)
        await expectRefusal(upload, in: sandbox, .linkEscapesContext, "archive entry 'd/y' is a symbolic link to 'x/../..'")

        // The same trick with the order reversed: the link is harmless until `x` appears.
        let reversed = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                add_symlink(tf, "y", "x/..")
                add_symlink(tf, "x", ".")
            """, name: "reversed.tar")
        await expectRefusal(reversed, in: sandbox, .linkEscapesContext, "'..' is only allowed at the start")
    }

    @Test("nothing is written through a symlink, even one that stays inside")
    func writeThroughInContextSymlink() async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                add_dir(tf, "real")
                add_symlink(tf, "a", "real")
                add_file(tf, "a/b/c", b"through the link")
            """)
        await expectRefusal(upload, in: sandbox, .unsafeEntryLocation,
                            "archive entry 'a/b/c' would be written through the symbolic link 'a'")
    }

    @Test("a symlink replaced by a later entry cannot redirect it")
    func duplicateEntries() async throws {
        let sandbox = try ArchiveSandbox()
        // Later regular entries replace earlier files and links (as tar does) without following them.
        let upload = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", b"old")
                add_symlink(tf, "Dockerfile", "elsewhere")
                add_file(tf, "Dockerfile", DOCKERFILE)
            """)
        let context = try await extractor.extract(from: upload, into: sandbox.target)
        #expect(try String(contentsOf: context.dockerfile, encoding: .utf8) == DockerfileText)
        #expect(try #require(sandbox.lstatInfo("Dockerfile")).st_mode & S_IFMT == S_IFREG)

        let overDirectory = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                add_dir(tf, "dir")
                add_file(tf, "dir", b"x")
            """, name: "dir.tar")
        try sandbox.resetTarget()
        await expectRefusal(overDirectory, in: sandbox, .unsafeEntryLocation, "would replace the directory 'dir'")
    }

    @Test("an entry below a regular file is refused")
    func entryBelowFile() async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                add_file(tf, "a", b"file")
                add_file(tf, "a/b", b"below a file")
            """)
        await expectRefusal(upload, in: sandbox, .unsafeEntryLocation,
                            "archive entry 'a/b' cannot be created because 'a' is not a directory")
    }

    @Test("hard links outside the context or to unextracted entries are refused",
          arguments: ["/etc/passwd", "../../etc/passwd", "later", "link-to-file"])
    func evilHardLinks(target: String) async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                add_symlink(tf, "link-to-file", "Dockerfile")
                add_hardlink(tf, "hard", "\(target)")
                add_file(tf, "later", b"later")
            """)
        await expectRefusal(upload, in: sandbox, .linkEscapesContext, "archive entry 'hard' is a hard link to '\(target)'")
    }

    @Test("device nodes, FIFOs and other special entries are refused",
          arguments: [("CHRTYPE", "a character device"), ("BLKTYPE", "a block device"), ("FIFOTYPE", "a FIFO")])
    func specialFiles(type: String, description: String) async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                add_special(tf, "dev/null", tarfile.\(type))
            """)
        await expectRefusal(upload, in: sandbox, .unsupportedEntryType, "archive entry 'dev/null' is \(description)")
    }

    // MARK: - Caps

    @Test("a 2 GiB zip bomb stops at the size cap")
    func zipBomb() async throws {
        let sandbox = try ArchiveSandbox()
        // Streamed, so the test never holds 2 GiB; deflate turns it into about 2 MB.
        let upload = try sandbox.python("""
            with zipfile.ZipFile(OUT, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("Dockerfile", DOCKERFILE)
                with zf.open("zeros", "w", force_zip64=True) as f:
                    chunk = bytes(1 << 20)
                    for _ in range(2048):
                        f.write(chunk)
            """)
        #expect(try FileManager.default.attributesOfItem(atPath: upload.path)[.size] as? Int ?? 0 < 10 << 20)
        await expectRefusal(upload, in: sandbox, .limitExceeded,
                            "larger than the limit of 10 MiB uncompressed (stopped at archive entry 'zeros')",
                            limits: ExtractionLimits(maxTotalBytes: 10 << 20))
    }

    @Test("a zip bomb that lies about its size is stopped while streaming")
    func lyingZipBomb() async throws {
        let sandbox = try ArchiveSandbox()
        // 64 MiB of zeros whose local and central headers both claim 1 byte, so only the
        // running count of decompressed bytes can catch it.
        let upload = try sandbox.python("""
            with zipfile.ZipFile(OUT, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("Dockerfile", DOCKERFILE)
                with zf.open("zeros", "w") as f:
                    for _ in range(64):
                        f.write(bytes(1 << 20))
            with zipfile.ZipFile(OUT) as zf:
                offset = zf.getinfo("zeros").header_offset
            data = bytearray(open(OUT, "rb").read())
            data[offset + 22:offset + 26] = (1).to_bytes(4, "little")
            central = data.index(b"PK\\x01\\x02" , data.index(b"PK\\x01\\x02") + 4)
            assert data[central + 46:central + 51] == b"zeros"
            data[central + 24:central + 28] = (1).to_bytes(4, "little")
            open(OUT, "wb").write(data)
            """)
        await expectRefusal(upload, in: sandbox, .limitExceeded, "stopped at archive entry 'zeros'",
                            limits: ExtractionLimits(maxTotalBytes: 10 << 20))
    }

    @Test("a tar.gz whose files add up past the cap is refused")
    func tarGzipBomb() async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.python("""
            with tar("w:gz") as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                for i in range(12):
                    add_file(tf, f"blob{i}", bytes(1 << 20))
            """)
        await expectRefusal(upload, in: sandbox, .limitExceeded, "stopped at archive entry 'blob9'",
                            limits: ExtractionLimits(maxTotalBytes: 10 << 20))
    }

    @Test("too many entries are refused")
    func tooManyEntries() async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                for i in range(50):
                    add_file(tf, f"f{i}", b"")
            """)
        await expectRefusal(upload, in: sandbox, .limitExceeded, "more than 20 entries",
                            limits: ExtractionLimits(maxEntryCount: 20))
    }

    @Test("an over-long entry name is refused")
    func longPath() async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                add_file(tf, "/".join(["abcdefghij"] * 20), b"deep")
            """)
        await expectRefusal(upload, in: sandbox, .limitExceeded, "longer than 100 bytes",
                            limits: ExtractionLimits(maxPathLength: 100))
    }

    // MARK: - Configuration and lifecycle

    @Test("a Dockerfile path outside the context is refused before anything is written",
          arguments: ["../Dockerfile", "", "/", "a/../../Dockerfile"])
    func invalidDockerfilePath(path: String) async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.write(Data("FROM scratch\n".utf8))
        await expectRefusal(upload, in: sandbox, .invalidDockerfilePath, "does not name a file inside the build context",
                            dockerfilePath: path)
    }

    @Test("a non-empty extraction directory is refused and left alone")
    func nonEmptyDestination() async throws {
        let sandbox = try ArchiveSandbox()
        try FileManager.default.createDirectory(at: sandbox.target, withIntermediateDirectories: false)
        let keep = sandbox.target.appendingPathComponent("keep")
        try Data("keep".utf8).write(to: keep)
        let upload = try sandbox.write(Data("FROM scratch\n".utf8))
        await #expect(throws: BuildContextError(.destinationNotEmpty, "the extraction directory '\(sandbox.target.path)' is not empty")) {
            try await extractor.extract(from: upload, into: sandbox.target)
        }
        #expect(FileManager.default.fileExists(atPath: keep.path))
    }

    @Test("a cancelled extraction reports cancellation and leaves nothing behind")
    func cancellation() async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
            """)
        let target = sandbox.target
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await extractor.extract(from: upload, into: target)
        }
        await #expect(throws: BuildContextError.self) { try await task.value }
        do {
            _ = try await task.value
        } catch let error as BuildContextError {
            #expect(error.code == .cancelled)
        }
        sandbox.expectCleanedUp()
    }

    @Test("the extraction runs on the thread pool it is given")
    func dedicatedThreadPool() async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.write(Data("FROM scratch\n".utf8))
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let context = try await BuildContextExtractor(threadPool: pool).extract(from: upload, into: sandbox.target)
        #expect(context.format == .dockerfile)
        try await pool.shutdownGracefully()

        try sandbox.resetTarget()
        await #expect(throws: BuildContextError.self) {
            try await BuildContextExtractor(threadPool: pool).extract(from: upload, into: sandbox.target)
        }
    }

    @Test("error messages escape control characters in entry names")
    func controlCharactersInNames() async throws {
        let sandbox = try ArchiveSandbox()
        let upload = try sandbox.python("""
            with tar() as tf:
                add_file(tf, "Dockerfile", DOCKERFILE)
                add_file(tf, "../\\x1b[31mred\\n", b"x")
            """)
        let error = await expectRefusal(upload, in: sandbox, .pathEscapesContext, "escapes the build context")
        #expect(error?.message.contains("\u{1b}") == false)
        #expect(error?.message.contains("\\u{1B}[31mred\\n") == true, "\(error?.message ?? "")")
    }
}

let DockerfileText = "FROM scratch\nCOPY . /\n"
