// The scan worker protocol driven by a scripted worker over HTTP, on both backends: a lease
// hands out only the layers the index lacks, the download serves only those of the leased
// job, reported contents are matched and stored as an in-process scan's would be, a layer a
// worker could not read fails the image with its reason, a worker that gives up has the job
// retried, and a lease that expired (or a wrong lease token, or no worker token) is refused.

import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import ScanService
import Scanner
import SlipwayCore
import SlipwayTestSupport
import Testing

@Suite("Scan worker protocol")
struct ScanWorkerEndpointTests {
    static let workerToken = "slw_" + String(repeating: "S", count: 40)

    static func configure(_ config: inout SlipwayConfig) { config.builds.workerToken = workerToken }

    /// A scripted scan worker.
    struct Worker {
        let c: RegistryClient
        var token = ScanWorkerEndpointTests.workerToken

        func call<Body: Encodable>(_ method: HTTPRequest.Method, _ path: String, lease: String? = nil, _ body: Body?) async throws -> TestResponse {
            var headers: HTTPFields = [.contentType: "application/json"]
            if let lease { headers[HTTPField.Name(ScanWorkerProtocol.leaseHeader)!] = lease }
            let bytes = try body.map { ByteBuffer(bytes: try JSONEncoder().encode($0)) }
            return try await c.send(method, path, token: token, headers: headers, body: bytes)
        }

        func lease() async throws -> ScanLease? {
            let r = try await call(.post, ScanWorkerProtocol.leasePath, ScanLeaseRequest(workerID: "test-worker"))
            if r.status == .noContent { return nil }
            guard r.status == .ok else { throw TestFailure("lease: \(r.status) \(String(buffer: r.body))") }
            return try JSONDecoder().decode(ScanLease.self, from: Data(buffer: r.body))
        }

        func download(_ lease: ScanLease, _ digest: String, leaseToken: String? = nil) async throws -> TestResponse {
            try await call(.get, ScanWorkerProtocol.layerPath(lease.jobID, digest), lease: leaseToken ?? lease.leaseToken, ScanCompletion?.none)
        }

        /// Downloads and reads a leased layer as `slipway worker` does, and reports it.
        func index(_ lease: ScanLease, _ layer: ScanLease.Layer) async throws -> ScanLayerResult {
            let r = try await download(lease, layer.digest)
            guard r.status == .ok else { throw TestFailure("download: \(r.status)") }
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("scan-worker-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: file) }
            try Data(buffer: r.body).write(to: file)
            let result: ScanLayerResult
            do { result = .indexed(try LayerReader.read(path: file.path)) } catch { result = .failed(error.message) }
            let reported = try await call(.post, ScanWorkerProtocol.layerPath(lease.jobID, layer.digest), lease: lease.leaseToken, result)
            guard reported.status == .noContent else { throw TestFailure("report: \(reported.status) \(String(buffer: reported.body))") }
            return result
        }

        func complete(_ lease: ScanLease, _ completion: ScanCompletion = ScanCompletion()) async throws -> TestResponse {
            try await call(.post, ScanWorkerProtocol.jobPath(lease.jobID, "complete"), lease: lease.leaseToken, completion)
        }

        func heartbeat(_ lease: ScanLease, leaseToken: String? = nil) async throws -> TestResponse {
            try await call(.post, ScanWorkerProtocol.jobPath(lease.jobID, "heartbeat"), lease: leaseToken ?? lease.leaseToken,
                           ScanLeaseRequest(workerID: "test-worker"))
        }
    }

    @Test(arguments: TestBackend.available)
    func aWorkerIndexesTheMissingLayersAndTheServerStoresTheReport(backend: TestBackend) async throws {
        let layers = try ScanFixtures.layers()
        try await TestRegistry.with(backend, configure: Self.configure) { registry, c in
            try await ScanFixtures.importDebian(registry, name: "openssl.json", ScanFixtures.opensslFeed)
            let token = try await ScanFixtures.apiToken(registry)
            let worker = Worker(c: c)
            let (digest, layerDigests) = try await ScanFixtures.push(c, "admin/app", tag: "v1",
                                                                     layers: [layers["debian-base.tar"]!, layers["python.tar"]!])
            let lease = try #require(try await worker.lease())
            #expect(lease.manifest == digest.description)
            #expect(lease.layers.map(\.digest) == layerDigests.map(\.description))
            #expect(lease.layers.map(\.size) == [Int64(layers["debian-base.tar"]!.count), Int64(layers["python.tar"]!.count)])

            // The download is the layer's bytes; anything else than a layer of this image is refused.
            let bytes = try await worker.download(lease, layerDigests[0].description)
            #expect(bytes.status == .ok && Array(buffer: bytes.body) == layers["debian-base.tar"]!)
            let other = try await c.pushBlob("admin/app", Array("some other blob".utf8), token: try #require(
                try await c.token(.init(TestRegistry.adminName), scopes: ["repository:admin/app:pull,push"])))
            #expect(try await worker.download(lease, other.description).status == .notFound)
            #expect(try await worker.download(lease, "not-a-digest").status == .notFound)

            // Completing before every layer is reported is refused, and changes nothing.
            #expect(try await worker.complete(lease).status == .badRequest)
            #expect(try await worker.heartbeat(lease).status == .noContent)
            for layer in lease.layers { _ = try await worker.index(lease, layer) }
            #expect(try await worker.complete(lease).status == .noContent)
            // The job is acked: its lease token is no use any more.
            #expect(try await worker.heartbeat(lease).status == .conflict)
            #expect(try await registry.services.jobs.jobs(queue: ScanQueues.scan).allSatisfy { $0.status == .done })

            let scanned = try await ScanFixtures.security(c, "admin/app", digest, token: token)
            #expect(scanned.body["status"] as? String == "scanned")
            let byName = Dictionary(uniqueKeysWithValues: ScanFixtures.features(scanned.body).map { ($0["Name"] as! String, $0) })
            #expect(Set(byName.keys) == ["libssl3", "zlib1g", "six"])
            #expect(byName["six"]?["AddedBy"] as? String == layerDigests[1].description)
            let vulnerabilities = byName["libssl3"]?["Vulnerabilities"] as? [[String: Any]] ?? []
            #expect(vulnerabilities.map { $0["Name"] as? String } == ["CVE-2023-5678"])
            #expect(vulnerabilities.first?["FixedBy"] as? String == "3.0.13-1~deb12u1")

            // An image on the same base: only its own new layer is leased.
            let (second, secondLayers) = try await ScanFixtures.push(c, "admin/two", tag: "v1",
                                                                     layers: [layers["debian-base.tar"]!, layers["python-other.tar"]!])
            let next = try #require(try await worker.lease())
            #expect(next.manifest == second.description && next.layers.map(\.digest) == [secondLayers[1].description])
            // Any layer of the leased image may be downloaded (indexed already or not), no other.
            #expect(try await worker.download(next, secondLayers[0].description).status == .ok)
            #expect(try await worker.download(next, layerDigests[1].description).status == .notFound)
            _ = try await worker.index(next, next.layers[0])
            #expect(try await worker.complete(next).status == .noContent)
            #expect(try await registry.scans.store.manifest(second.description)?.status == .scanned)
            #expect(try await registry.scans.store.layerCount() == 3)

            // An image whose layers are all indexed is finished by the server; the worker gets nothing.
            let (third, _) = try await ScanFixtures.push(c, "admin/three", tag: "v1", layers: [layers["python.tar"]!])
            #expect(try await worker.lease() == nil)
            #expect(try await registry.scans.store.manifest(third.description)?.status == .scanned)
        }
    }

    @Test(arguments: TestBackend.available)
    func aLayerTheWorkerCannotReadFailsTheImageWithItsReason(backend: TestBackend) async throws {
        let layers = try ScanFixtures.layers()
        try await TestRegistry.with(backend, configure: Self.configure) { registry, c in
            let worker = Worker(c: c)
            let (bad, badLayers) = try await ScanFixtures.push(c, "admin/bad", tag: "v1",
                                                               layers: [layers["corrupt.tar.gz"]!, layers["python.tar"]!])
            let lease = try #require(try await worker.lease())
            let result = try await worker.index(lease, lease.layers[0])
            #expect(result.failure != nil)
            // The layer above is not needed: the image fails with the first layer's reason.
            #expect(try await worker.complete(lease).status == .noContent)
            let scan = try #require(try await registry.scans.store.manifest(bad.description))
            #expect(scan.status == .failed)
            #expect(scan.reason?.hasPrefix("layer \(badLayers[0]):") == true, "reason: \(scan.reason ?? "")")
            #expect(try await registry.scans.store.layer(badLayers[0].description) == .failed(result.failure!))
            // A report with neither contents nor a failure is refused.
            let (other, _) = try await ScanFixtures.push(c, "admin/other", tag: "v1", layers: [layers["debian-base.tar"]!])
            let next = try #require(try await worker.lease())
            #expect(next.manifest == other.description)
            let empty = try await worker.call(.post, ScanWorkerProtocol.layerPath(next.jobID, next.layers[0].digest), lease: next.leaseToken,
                                              ScanLayerResult(contents: nil, failure: nil))
            #expect(empty.status == .badRequest)
        }
    }

    @Test(arguments: TestBackend.available)
    func aWorkerThatGivesUpHasTheJobRetriedAndAnExpiredLeaseIsRefused(backend: TestBackend) async throws {
        let layers = try ScanFixtures.layers()
        try await TestRegistry.with(backend, configure: Self.configure) { registry, c in
            let worker = Worker(c: c)
            let (digest, _) = try await ScanFixtures.push(c, "admin/app", tag: "v1", layers: [layers["debian-base.tar"]!])
            let first = try #require(try await worker.lease())
            #expect(try await worker.complete(first, ScanCompletion(error: "disk full")).status == .noContent)
            let retried = try #require(try await registry.services.jobs.job(id: first.jobID))
            #expect(retried.status == .ready && retried.lastError?.contains("disk full") == true)
            #expect(try await registry.scans.store.manifest(digest.description)?.status == .queued)

            // After the backoff it is leased again, with a new lease token; the old one is refused.
            let start = registry.services.jobs.clock.now()
            registry.jobTime.set(start + 60_000)
            let second = try #require(try await worker.lease())
            #expect(second.jobID == first.jobID && second.leaseToken != first.leaseToken)
            #expect(try await worker.heartbeat(second, leaseToken: first.leaseToken).status == .conflict)
            #expect(try await worker.download(second, second.layers[0].digest, leaseToken: first.leaseToken).status == .conflict)
            #expect(try await worker.heartbeat(second, leaseToken: "slw_wrong").status == .conflict)

            // The worker goes quiet past the visibility timeout: its lease has expired.
            registry.jobTime.set(start + 60_000 + 301_000)
            #expect(try await worker.heartbeat(second).status == .conflict)
            #expect(try await worker.download(second, second.layers[0].digest).status == .conflict)
            #expect(try await worker.complete(second).status == .conflict)
            // Another worker takes the job over and finishes it.
            let third = try #require(try await worker.lease())
            #expect(third.jobID == first.jobID)
            _ = try await worker.index(third, third.layers[0])
            #expect(try await worker.complete(third).status == .noContent)
            #expect(try await registry.scans.store.manifest(digest.description)?.status == .scanned)
        }
    }

    /// Permission: the worker token on every route (none, or a wrong one: 401, before anything
    /// about the job is looked at); no worker token configured admits nobody.
    @Test func everyRouteNeedsTheWorkerToken() async throws {
        let layers = try ScanFixtures.layers()
        let routes: [(HTTPRequest.Method, @Sendable (Int64, String) -> String)] = [
            (.post, { _, _ in ScanWorkerProtocol.leasePath }),
            (.post, { job, _ in ScanWorkerProtocol.jobPath(job, "heartbeat") }),
            (.get, { job, layer in ScanWorkerProtocol.layerPath(job, layer) }),
            (.post, { job, layer in ScanWorkerProtocol.layerPath(job, layer) }),
            (.post, { job, _ in ScanWorkerProtocol.jobPath(job, "complete") }),
        ]
        try await TestRegistry.with(.sqlite, configure: Self.configure) { registry, c in
            _ = try await ScanFixtures.push(c, "admin/app", tag: "v1", layers: [layers["debian-base.tar"]!])
            let lease = try #require(try await Worker(c: c).lease())
            for (method, path) in routes {
                let target = path(lease.jobID, lease.layers[0].digest)
                for token in [nil, "slw_wrong", "Basic \(Self.workerToken)"] as [String?] {
                    var headers: HTTPFields = [HTTPField.Name(ScanWorkerProtocol.leaseHeader)!: lease.leaseToken]
                    if let token { headers[.authorization] = token.hasPrefix("Basic") ? token : "Bearer \(token)" }
                    let r = try await c.send(method, target, headers: headers, body: ByteBuffer(string: "{}"))
                    #expect(r.status == .unauthorized, "\(method) \(target) with \(token ?? "no token")")
                }
            }
        }
        // The build farm's random per-process token is not a scan worker's: nothing is admitted.
        try await TestRegistry.with(.sqlite) { registry, c in
            var worker = Worker(c: c)
            worker.token = registry.buildFarm.workerToken
            let r = try await worker.call(.post, ScanWorkerProtocol.leasePath, ScanLeaseRequest(workerID: "w"))
            #expect(r.status == .unauthorized)
        }
    }
}
