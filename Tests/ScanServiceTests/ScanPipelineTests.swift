// The scan pipeline end to end inside one process, on both backends: a push queues the scan
// in its own transaction, the job indexes real layer tars from blob storage and stores Quay's
// report; a layer shared by images is read once; a feed import re-matches without reading
// layers and announces a new finding once; a hostile layer fails its image with a reason while
// the queue goes on.

import Events
import Accounts
import Foundation
import Registry
import ScanService
import Scanner
import SlipwayCore
import SlipwayTestSupport
import Testing

@Suite("Scan pipeline")
struct ScanPipelineTests {
    /// On S3 the layer is streamed into a temporary file first (no local blob file to open).
    @Test(arguments: TestBackend.available, TestStorageKind.available)
    func pushQueuesAScanWhoseJobStoresTheReport(backend: TestBackend, storage: TestStorageKind) async throws {
        let layers = try ScanFixtures.layers()
        try await TestRegistry.with(backend, storage: storage) { registry, c in
            try await ScanFixtures.importDebian(registry, name: "openssl.json", ScanFixtures.opensslFeed)
            let token = try await ScanFixtures.apiToken(registry)
            let (digest, layerDigests) = try await ScanFixtures.push(c, "admin/app", tag: "v1",
                                                                     layers: [layers["debian-base.tar"]!, layers["python.tar"]!])
            // The push committed the queued scan with the manifest.
            let jobs = try await registry.services.jobs.jobs(queue: ScanQueues.scan, reference: digest.description)
            #expect(jobs.count == 1)
            let queued = try await ScanFixtures.security(c, "admin/app", digest, token: token)
            #expect(queued.status == 200 && queued.body["status"] as? String == "queued" && queued.body["data"] is NSNull)

            #expect(await registry.scans.scanRunner().runOnce() == 1)
            let scanned = try await ScanFixtures.security(c, "admin/app", digest, token: token)
            #expect(scanned.body["status"] as? String == "scanned")
            let features = ScanFixtures.features(scanned.body)
            let byName = Dictionary(uniqueKeysWithValues: features.map { ($0["Name"] as! String, $0) })
            #expect(Set(byName.keys) == ["libssl3", "zlib1g", "six"])
            #expect(byName["libssl3"]?["AddedBy"] as? String == layerDigests[0].description)
            #expect(byName["six"]?["AddedBy"] as? String == layerDigests[1].description)
            #expect(byName["libssl3"]?["Version"] as? String == "3.0.11-1~deb12u2")
            let vulnerabilities = byName["libssl3"]?["Vulnerabilities"] as? [[String: Any]] ?? []
            #expect(vulnerabilities.map { $0["Name"] as? String } == ["CVE-2023-5678"])
            #expect(vulnerabilities.first?["FixedBy"] as? String == "3.0.13-1~deb12u1")
            #expect(vulnerabilities.first?["Severity"] as? String == "Medium")
            #expect((byName["zlib1g"]?["Vulnerabilities"] as? [Any])?.isEmpty == true)

            // Without ?vulnerabilities=true, Quay's default: the features only.
            let plain = try await ScanFixtures.security(c, "admin/app", digest, token: token, vulnerabilities: false)
            #expect(ScanFixtures.features(plain.body).allSatisfy { ($0["Vulnerabilities"] as? [Any])?.isEmpty == true })
            #expect(ScanFixtures.features(plain.body).count == 3)

            // Repository read: anonymous callers see a public repository's report, not a private one's.
            #expect(try await ScanFixtures.security(c, "admin/app", digest, token: nil).status == 401)
            let repo = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "app")))
            try await registry.services.accounts.setVisibility(repositoryID: repo.id, .public)
            #expect(try await ScanFixtures.security(c, "admin/app", digest, token: nil).body["status"] as? String == "scanned")

            // An unknown manifest is Quay's 404 body.
            let unknown = try await ScanFixtures.security(c, "admin/app", Digest.sha256(of: Array("nothing".utf8)), token: token)
            #expect(unknown.status == 404 && unknown.body["error_type"] as? String == "not_found")
        }
    }

    @Test(arguments: TestBackend.available)
    func aLayerSharedByImagesIsReadOnce(backend: TestBackend) async throws {
        let layers = try ScanFixtures.layers()
        try await TestRegistry.with(backend) { registry, c in
            let source = CountingLayerSource(storage: registry.services.storage)
            let scans = ScanServiceModule(services: registry.services, layers: source)
            let (first, firstLayers) = try await ScanFixtures.push(c, "admin/one", tag: "v1", layers: [layers["debian-base.tar"]!, layers["python.tar"]!])
            let (second, _) = try await ScanFixtures.push(c, "admin/two", tag: "v1", layers: [layers["debian-base.tar"]!, layers["python-other.tar"]!])
            // The same manifest in a third repository is the same content: not queued again.
            _ = try await ScanFixtures.push(c, "admin/three", tag: "v1", layers: [layers["debian-base.tar"]!, layers["python.tar"]!])
            #expect(try await registry.services.jobs.jobs(queue: ScanQueues.scan).count == 2)

            #expect(await scans.scanRunner().runOnce() == 2)
            #expect(source.total == 3)
            #expect(source.counts[firstLayers[0].description] == 1)
            #expect(try await scans.store.layerCount() == 3)
            #expect(try await scans.store.manifest(first.description)?.status == .scanned)
            #expect(try await scans.store.manifest(second.description)?.status == .scanned)

            // A third image on the same base reads only its own new layer.
            let (third, _) = try await ScanFixtures.push(c, "admin/four", tag: "v1", layers: [layers["debian-base.tar"]!])
            #expect(await scans.scanRunner().runOnce() == 1)
            #expect(source.total == 3)
            #expect(try await scans.store.manifest(third.description)?.status == .scanned)
        }
    }

    @Test(arguments: TestBackend.available)
    func anImportReMatchesWithoutReadingLayersAndAnnouncesANewFindingOnce(backend: TestBackend) async throws {
        let layers = try ScanFixtures.layers()
        try await TestRegistry.with(backend) { registry, c in
            let source = CountingLayerSource(storage: registry.services.storage)
            let scans = ScanServiceModule(services: registry.services, layers: source)
            try await ScanFixtures.importDebian(registry, name: "openssl.json", ScanFixtures.opensslFeed)
            #expect(await scans.checkForDataChange())
            #expect(await scans.rematchRunner().runOnce() == 1)
            let (digest, _) = try await ScanFixtures.push(c, "admin/app", tag: "v1", layers: [layers["debian-base.tar"]!, layers["python.tar"]!])
            // The same image untagged elsewhere: scanned (same digest), never announced there.
            _ = try await ScanFixtures.push(c, "admin/untagged", tag: nil, layers: [layers["debian-base.tar"]!, layers["python.tar"]!])
            #expect(await scans.scanRunner().runOnce() == 1)
            #expect(source.total == 2)
            // What the first scan reported is not news.
            #expect(try await scans.store.findings(of: digest.description) == ["CVE-2023-5678"])
            #expect(try await registry.services.events.events(kind: "vulnerability_found").isEmpty)

            // Nothing changed: no re-match is queued.
            #expect(await scans.checkForDataChange() == false)

            try await ScanFixtures.importDebian(registry, name: "zlib.json", ScanFixtures.zlibFeed)
            #expect(await scans.checkForDataChange())
            #expect(await scans.checkForDataChange() == false)
            #expect(await scans.rematchRunner().runOnce() == 1)
            #expect(source.total == 2)
            let scan = try #require(try await scans.store.manifest(digest.description))
            let zlib = scan.report?.Layer.Features.first { $0.Name == "zlib1g" }
            #expect(zlib?.Vulnerabilities.map(\.Name) == ["CVE-2022-37434"])
            #expect(zlib?.Vulnerabilities.first?.Severity == "Critical" && zlib?.Vulnerabilities.first?.FixedBy == "")
            #expect(try await scans.store.findings(of: digest.description) == ["CVE-2022-37434", "CVE-2023-5678"])

            let events = try await registry.services.events.events(kind: "vulnerability_found")
            #expect(events.count == 1)
            let event = try #require(events.first)
            #expect(event.namespace == "admin" && event.repository == "app")
            #expect(event.payload["tags"] == .strings(["v1"]))
            #expect(event.payload["image"] == .string(digest.description))
            #expect(event.payload["repository"] == .string("admin/app"))
            #expect(event.payload["vulnerability"]?["id"] == .string("CVE-2022-37434"))
            #expect(event.payload["vulnerability"]?["priority"] == .string("Critical"))
            #expect(event.payload["vulnerability"]?["has_fix"] == .bool(false))
            for key in ["namespace", "name", "docker_url", "homepage"] { #expect(event.payload[key] != nil, "payload lacks \(key)") }

            // The same finding is never announced twice: another changed import re-matches, and
            // the report keeps the vulnerability, but no event follows.
            try await ScanFixtures.importDebian(registry, name: "zlib.json", ScanFixtures.zlibFeed + " ")
            #expect(await scans.checkForDataChange())
            #expect(await scans.rematchRunner().runOnce() == 1)
            #expect(try await registry.services.events.events(kind: "vulnerability_found").count == 1)
            #expect(source.total == 2)
        }
    }

    @Test(arguments: TestBackend.available)
    func aHostileLayerFailsItsImageWithAReasonAndTheQueueGoesOn(backend: TestBackend) async throws {
        let layers = try ScanFixtures.layers()
        try await TestRegistry.with(backend) { registry, c in
            let token = try await ScanFixtures.apiToken(registry)
            let (bad, badLayers) = try await ScanFixtures.push(c, "admin/bad", tag: "v1", layers: [layers["corrupt.tar.gz"]!])
            let (junk, _) = try await ScanFixtures.push(c, "admin/junk", tag: "v1", layers: [Array("not a tar at all".utf8)])
            let (good, _) = try await ScanFixtures.push(c, "admin/good", tag: "v1", layers: [layers["debian-base.tar"]!])
            #expect(await registry.scans.scanRunner().runOnce() == 3)

            let failed = try await ScanFixtures.security(c, "admin/bad", bad, token: token)
            #expect(failed.body["status"] as? String == "failed" && failed.body["data"] is NSNull)
            let reason = failed.body["reason"] as? String ?? ""
            #expect(reason.hasPrefix("layer \(badLayers[0]):"), "reason: \(reason)")
            #expect(try await ScanFixtures.security(c, "admin/junk", junk, token: token).body["status"] as? String == "failed")
            #expect(try await ScanFixtures.security(c, "admin/good", good, token: token).body["status"] as? String == "scanned")
            // The scan jobs finished (none left to retry).
            let jobs = try await registry.services.jobs.jobs(queue: ScanQueues.scan)
            #expect(jobs.allSatisfy { $0.status == .done })
            // The failed layer is remembered: another image with it fails without reading it again.
            let source = CountingLayerSource(storage: registry.services.storage)
            let scans = ScanServiceModule(services: registry.services, layers: source)
            let (again, _) = try await ScanFixtures.push(c, "admin/again", tag: "v1", layers: [layers["corrupt.tar.gz"]!, layers["python.tar"]!])
            #expect(await scans.scanRunner().runOnce() == 1)
            #expect(try await scans.store.manifest(again.description)?.status == .failed)
            #expect(source.counts[badLayers[0].description] == nil)
        }
    }

    @Test(arguments: TestBackend.available)
    func anIndexIsUnsupportedAndItsChildrenAreScanned(backend: TestBackend) async throws {
        let layers = try ScanFixtures.layers()
        try await TestRegistry.with(backend) { registry, c in
            let token = try await ScanFixtures.apiToken(registry)
            let (child, _) = try await ScanFixtures.push(c, "admin/multi", tag: nil, layers: [layers["debian-base.tar"]!])
            let repo = try #require(try await registry.services.accounts.repository(RepositoryPath(namespace: "admin", name: "multi")))
            let childSize = try #require(try await registry.services.store.manifest(repositoryID: repo.id, digest: child)).content.utf8.count
            let index = TestManifests.index([(child, childSize)])
            let push = try #require(try await c.token(.init(TestRegistry.adminName), scopes: ["repository:admin/multi:pull,push"]))
            let response = try await c.send(.put, "/v2/admin/multi/manifests/latest", token: push,
                                            headers: [.contentType: MediaTypes.ociIndex], body: .init(bytes: index))
            #expect(response.status == .created)
            #expect(await registry.scans.scanRunner().runOnce() == 1)
            #expect(try await ScanFixtures.security(c, "admin/multi", child, token: token).body["status"] as? String == "scanned")
            let indexScan = try await ScanFixtures.security(c, "admin/multi", Digest.sha256(of: index), token: token)
            #expect(indexScan.body["status"] as? String == "unsupported")
        }
    }
}
