// Fixtures of the scan pipeline tests: real layer tars written with Python's tarfile, images
// pushed through /v2, feeds imported through the vulnerability store, and a layer source that
// counts what it reads.

import Accounts
import Foundation
import NIOCore
import Registry
import ScanService
import Scanner
import SlipwayCore
import SlipwayTestSupport
import Synchronization
import Testing

enum ScanFixtures {
    /// Layer files by name: `debian-base.tar` (Debian 12 os-release, dpkg status with openssl
    /// and zlib1g), `python.tar` (a six dist-info), `python-other.tar` (a requests dist-info),
    /// `corrupt.tar.gz` (a gzip stream cut short).
    static func layers() throws -> [String: [UInt8]] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("scan-layers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = #"""
            import io, os, sys, tarfile
            out = sys.argv[1]
            def add(tar, name, data):
                info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 0
                tar.addfile(info, io.BytesIO(data))
            with tarfile.open(os.path.join(out, "debian-base.tar"), "w") as t:
                add(t, "etc/os-release", b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n')
                add(t, "var/lib/dpkg/status", b"Package: libssl3\nStatus: install ok installed\nSource: openssl\nVersion: 3.0.11-1~deb12u2\n\n"
                    b"Package: zlib1g\nStatus: install ok installed\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n\n")
            with tarfile.open(os.path.join(out, "python.tar"), "w") as t:
                add(t, "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n")
            with tarfile.open(os.path.join(out, "python-other.tar"), "w") as t:
                add(t, "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n")
            import gzip
            whole = gzip.compress(open(os.path.join(out, "debian-base.tar"), "rb").read())
            open(os.path.join(out, "corrupt.tar.gz"), "wb").write(whole[: len(whole) // 2] + b"\x00garbage" * 64)
            """#
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, directory.path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("python3 could not write the layer fixtures") }
        var layers: [String: [UInt8]] = [:]
        for name in ["debian-base.tar", "python.tar", "python-other.tar", "corrupt.tar.gz"] {
            layers[name] = Array(try Data(contentsOf: directory.appendingPathComponent(name)))
        }
        return layers
    }

    /// Pushes an image of `layers` (bottom first) to `repo` under `tag` (or by digest only).
    /// Returns the manifest digest and the layer digests.
    @discardableResult
    static func push(_ c: RegistryClient, _ repo: String, tag: String?, layers: [[UInt8]]) async throws -> (Digest, [Digest]) {
        let token = try #require(try await c.token(.init(TestRegistry.adminName), scopes: ["repository:\(repo):pull,push"]))
        let config = Array(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.utf8)
        let configDigest = try await c.pushBlob(repo, config, token: token)
        var digests: [Digest] = []
        for layer in layers { digests.append(try await c.pushBlob(repo, layer, token: token)) }
        let manifest = TestManifests.image(config: (configDigest, config.count), layers: zip(digests, layers).map { ($0, $1.count) })
        let digest = Digest.sha256(of: manifest)
        let response = try await c.send(.put, "/v2/\(repo)/manifests/\(tag ?? digest.description)", token: token,
                                        headers: [.contentType: MediaTypes.ociManifest], body: ByteBuffer(bytes: manifest))
        guard response.status == .created else { throw TestFailure("push failed: \(response.status) \(String(buffer: response.body))") }
        return (digest, digests)
    }

    /// An `/api/v1` token of the admin user with every scope.
    static func apiToken(_ registry: TestRegistry) async throws -> String {
        let admin = try #require(try await registry.services.accounts.namespace(named: TestRegistry.adminName))
        let token = APITokens.generate()
        try await registry.services.accounts.createAPIToken(userID: admin.id, tokenHash: APITokens.hash(token), scopes: Array(APICaller.allScopes),
                                                            description: "scan tests")
        return token
    }

    /// Imports a Debian Security Tracker feed as source `name`.
    static func importDebian(_ registry: TestRegistry, name: String, _ json: String) async throws {
        let parsed = try FeedFormat.debianTracker.parse(Array(json.utf8), file: name)
        _ = try await VulnerabilityStore(database: registry.services.database)
            .replace(source: "debian:\(name)", format: .debianTracker, contentDigest: Digest.sha256(of: Array(json.utf8)).description, with: parsed)
    }

    static let opensslFeed = """
        {"openssl": {"CVE-2023-5678": {"description": "DH key checks are slow", "releases": {"bookworm": {"status": "resolved", "fixed_version": "3.0.13-1~deb12u1", "urgency": "low"}}}}}
        """
    static let zlibFeed = """
        {"zlib": {"CVE-2022-37434": {"description": "inflateGetHeader heap overflow", "releases": {"bookworm": {"status": "open", "urgency": "high"}}}}}
        """

    /// `GET …/manifest/{digest}/security` as JSON.
    static func security(_ c: RegistryClient, _ repo: String, _ digest: Digest, token: String?, vulnerabilities: Bool = true) async throws
        -> (status: Int, body: [String: Any]) {
        let response = try await c.send(.get, "/api/v1/repository/\(repo)/manifest/\(digest)/security\(vulnerabilities ? "?vulnerabilities=true" : "")",
                                        token: token)
        return (Int(response.status.code), response.json as? [String: Any] ?? [:])
    }

    static func features(_ body: [String: Any]) -> [[String: Any]] {
        ((body["data"] as? [String: Any])?["Layer"] as? [String: Any])?["Features"] as? [[String: Any]] ?? []
    }
}

/// The blob storage's layers, counting each read.
final class CountingLayerSource: LayerSource {
    let inner: BlobLayerSource
    private let reads = Mutex<[String: Int]>([:])

    init(storage: any BlobStorageDriver) { inner = BlobLayerSource(storage: storage) }

    func contents(of layer: Digest) async throws -> LayerContents {
        reads.withLock { $0[layer.description, default: 0] += 1 }
        return try await inner.contents(of: layer)
    }

    var counts: [String: Int] { reads.withLock { $0 } }
    var total: Int { counts.values.reduce(0, +) }
}
