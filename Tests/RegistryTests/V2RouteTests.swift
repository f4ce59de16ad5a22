import Accounts
import Registry
import SlipwayCore
import Testing

@Suite("V2 path parsing (from the right)")
struct V2RouteTests {
    static let digest = "sha256:" + String(repeating: "a", count: 64)

    @Test(arguments: [
        ("/v2/", "base"), ("/v2", "base"), ("/v2/_catalog", "catalog"), ("/v2/auth", "token"),
        ("/v2/alice/app/tags/list", "tags_list"),
        ("/v2/alice/app/manifests/latest", "manifest"),
        ("/v2/alice/app/manifests/\(digest)", "manifest"),
        ("/v2/alice/app/blobs/\(digest)", "blob"),
        ("/v2/alice/app/blobs/uploads/", "upload_start"),
        ("/v2/alice/app/blobs/uploads", "upload_start"),
        ("/v2/alice/app/blobs/uploads/0f3e-aa", "upload"),
        ("/v2/alice/app/referrers/\(digest)", "referrers"),
        // Names that contain route words still parse, because the suffix decides.
        ("/v2/alice/blobs/manifests/v1", "manifest"),
        ("/v2/alice/tags/list/tags/list", "tags_list"),
        ("/v2/alice/manifests/blobs/\(digest)", "blob"),
    ])
    func routeKinds(path: String, label: String) throws {
        let route = try #require(try V2Route.parse(rawPath: path))
        #expect(route.label == label)
    }

    @Test func nestedNamesAndLibraryNamespace() throws {
        let r1 = try #require(try V2Route.parse(rawPath: "/v2/acme/team/app/manifests/v1"))
        #expect(r1.name == "acme/team/app")
        #expect(r1.repositoryPath == RepositoryPath(namespace: "acme", name: "team/app"))
        let r2 = try #require(try V2Route.parse(rawPath: "/v2/busybox/tags/list"))
        #expect(r2.repositoryPath == RepositoryPath(namespace: "library", name: "busybox"))
        let r3 = try #require(try V2Route.parse(rawPath: "/v2/alice/blobs/manifests/v1"))
        #expect(r3.repositoryPath == RepositoryPath(namespace: "alice", name: "blobs"))
    }

    @Test(arguments: [
        ("/v2/Alice/app/tags/list", "NAME_INVALID"),
        ("/v2/alice/../x/tags/list", "NAME_INVALID"),
        ("/v2/alice/%2e%2e/x/tags/list", "NAME_INVALID"),
        ("/v2/alice//x/tags/list", "NAME_INVALID"),
        ("/v2/a/x/tags/list", "NAME_INVALID"),
        ("/v2/alice/-x/tags/list", "NAME_INVALID"),
        ("/v2/alice/app/manifests/-bad", "TAG_INVALID"),
        ("/v2/alice/app/manifests/" + String(repeating: "t", count: 129), "TAG_INVALID"),
        ("/v2/alice/app/manifests/md5:abcd", "DIGEST_INVALID"),
        ("/v2/alice/app/blobs/sha256:XYZ", "DIGEST_INVALID"),
        ("/v2/alice/app/blobs/sha256:" + String(repeating: "A", count: 64), "DIGEST_INVALID"),
        ("/v2/alice/app/manifests/%zz", "NAME_INVALID"),
    ])
    func rejectsBadInput(path: String, code: String) {
        #expect {
            _ = try V2Route.parse(rawPath: path)
        } throws: { error in
            (error as? RegistryError)?.code.rawValue == code
        }
    }

    @Test func nonRegistryPathsAreNotRoutes() throws {
        #expect(try V2Route.parse(rawPath: "/api/v1/user") == nil)
        #expect(try V2Route.parse(rawPath: "/v2/alice/app/unknown/x") == nil)
        #expect(try V2Route.parse(rawPath: "/v2x") == nil)
    }

    @Test func locationBuilder() {
        #expect(V2Route.location("acme/team/app", "blobs/uploads/abc") == "/v2/acme/team/app/blobs/uploads/abc")
    }
}

@Suite("Names, digests, scopes")
struct NamesTests {
    @Test(arguments: ["ab", "alice", "a.b", "a_b-c", "a1", String(repeating: "a", count: 255)])
    func validNamespaces(_ name: String) { #expect(Names.isValidNamespace(name)) }

    @Test(arguments: ["a", "", "Alice", "a..b", "-ab", "ab-", "a b", "a/b", String(repeating: "a", count: 256)])
    func invalidNamespaces(_ name: String) { #expect(!Names.isValidNamespace(name)) }

    @Test(arguments: ["app", "a", "team/app", "x.y_z-1", "build", "trigger/logs/tag"])
    func validRepositoryNames(_ name: String) { #expect(Names.isValidRepositoryName(name)) }

    @Test(arguments: ["", "App", "/app", "app/", "a//b", ".x", "a/-b", "a b"])
    func invalidRepositoryNames(_ name: String) { #expect(!Names.isValidRepositoryName(name)) }

    @Test(arguments: ["latest", "v1.2.3", "_x", "A-b_c.d", String(repeating: "t", count: 128)])
    func validTags(_ tag: String) { #expect(Names.isValidTag(tag)) }

    @Test(arguments: ["", ".x", "-x", "a/b", "a:b", "é", String(repeating: "t", count: 129)])
    func invalidTags(_ tag: String) { #expect(!Names.isValidTag(tag)) }

    @Test func digestRoundTrip() throws {
        let d = Digest.sha256(of: Array("hello".utf8))
        #expect(d.description == "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        #expect(try Digest(parsing: d.description) == d)
        let s512 = Digest.compute(.sha512, of: Array("hello".utf8))
        #expect(s512.hex.count == 128)
        #expect(try Digest(parsing: s512.description) == s512)
    }

    @Test func streamingDigesterMatchesOneShot() {
        var d = StreamingDigester(includeSHA512: true)
        let bytes = Array("abcdefghijklmnopqrstuvwxyz".utf8)
        bytes[0..<10].withUnsafeBytes { d.update($0) }
        bytes[10...].withUnsafeBytes { d.update($0) }
        #expect(d.finalize(.sha256) == Digest.sha256(of: bytes))
        #expect(d.finalize(.sha512) == Digest.compute(.sha512, of: bytes))
        #expect(d.byteCount == 26)
    }

    @Test func tokenScopes() throws {
        #expect(try TokenScope(parsing: "registry:catalog:*", serviceHost: nil) == .catalog)
        let s = try TokenScope(parsing: "repository:localhost:5000/acme/app:pull,push,bogus", serviceHost: "localhost:5000")
        #expect(s == .repository(name: "acme/app", path: RepositoryPath(namespace: "acme", name: "app"), actions: [.pull, .push]))
        let lib = try TokenScope(parsing: "repository:busybox:pull", serviceHost: nil)
        #expect(lib == .repository(name: "busybox", path: RepositoryPath(namespace: "library", name: "busybox"), actions: [.pull]))
        #expect(throws: RegistryError.self) { try TokenScope(parsing: "repository:acme/app:", serviceHost: nil) }
        #expect(throws: RegistryError.self) { try TokenScope(parsing: "garbage", serviceHost: nil) }
        #expect(throws: RegistryError.self) { try TokenScope(parsing: "repository:ACME/app:pull", serviceHost: nil) }
    }
}
