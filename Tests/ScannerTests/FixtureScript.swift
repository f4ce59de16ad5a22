// Fixtures the scanner tests write with real tools (Python's tarfile and zipfile, rpm,
// rpmbuild) into a fresh directory of their own.

import Foundation
import Testing

enum FixtureScript {
    /// A new, empty directory under the temporary directory.
    static func directory(_ prefix: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Runs `script` with Python (`python3 -c`) or bash (`bash -c`, `$0` set to "fixture"),
    /// with `arguments` after it; the test stops when it fails.
    static func run(_ language: Language, _ script: String, _ arguments: [String], what: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = language == .python ? ["python3", "-c", script] + arguments : ["bash", "-c", script, "fixture"] + arguments
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "making \(what) failed")
    }

    enum Language { case python, bash }
}
