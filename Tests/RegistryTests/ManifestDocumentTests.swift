import Foundation
import Registry
import SlipwayCore
import SlipwayTestSupport
import Testing

@Suite("Manifest parsing")
struct ManifestDocumentTests {
    let d1 = Digest.sha256(of: Array("a".utf8))
    let d2 = Digest.sha256(of: Array("b".utf8))

    @Test func imageManifest() throws {
        let bytes = TestManifests.image(config: (d1, 1), layers: [(d2, 1)])
        let doc = try ManifestDocument(bytes: bytes, contentType: MediaTypes.ociManifest)
        #expect(doc.mediaType == MediaTypes.ociManifest)
        #expect(doc.referencedBlobs.map(\.digest) == [d1, d2])
        #expect(!doc.isIndex)
    }

    @Test func indexAndSubject() throws {
        let index = try ManifestDocument(bytes: TestManifests.index([(d1, 10)]), contentType: nil)
        #expect(index.isIndex)
        #expect(index.manifests.count == 1)
        let artifact = try ManifestDocument(bytes: TestManifests.image(config: (d1, 1), layers: [], subject: (d2, 5), artifactType: "application/x.sig"),
                                            contentType: MediaTypes.ociManifest)
        #expect(artifact.subject?.digest == d2)
        #expect(artifact.effectiveArtifactType == "application/x.sig")
    }

    @Test(arguments: [
        ("not json", "MANIFEST_INVALID", 400),
        ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}", "MANIFEST_INVALID", 400),
        ("{\"schemaVersion\":1,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:\(String(repeating: "a", count: 64))\",\"size\":1},\"layers\":[]}", "MANIFEST_INVALID", 400),
        ("{\"schemaVersion\":2,\"mediaType\":\"application/x-unknown\"}", "MANIFEST_INVALID", 415),
        ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"md5:00\",\"size\":1}]}", "DIGEST_INVALID", 400),
        ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:\(String(repeating: "a", count: 64))\",\"size\":-1},\"layers\":[]}", "MANIFEST_INVALID", 400),
    ])
    func rejects(body: String, code: String, status: Int) {
        #expect {
            _ = try ManifestDocument(bytes: Array(body.utf8), contentType: nil)
        } throws: { error in
            guard let e = error as? RegistryError else { return false }
            return e.code.rawValue == code && Int(e.status.code) == status
        }
    }

    @Test func contentTypeMustAgree() {
        let bytes = TestManifests.image(config: (d1, 1), layers: [])
        #expect(throws: RegistryError.self) {
            try ManifestDocument(bytes: bytes, contentType: MediaTypes.dockerManifest)
        }
    }
}
