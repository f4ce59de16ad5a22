import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Registry

/// `/static/...`: the CSS and scripts in the `Static` resource directory, read into memory at
/// start-up. Only files that exist in the bundle are served, so no request path can reach
/// anything else on disk.
struct StaticAssets: Sendable {
    struct Asset: Sendable {
        let bytes: ByteBuffer
        let contentType: String
        /// Content hash: browsers revalidate (`Cache-Control: no-cache`) and get a 304 while it holds.
        let etag: String
    }

    let assets: [String: Asset]

    static let contentTypes = ["css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8",
                               "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon", "txt": "text/plain; charset=utf-8"]

    static func load(directory: URL) -> StaticAssets {
        var assets: [String: Asset] = [:]
        let root = directory.standardizedFileURL.path
        for case let relative as String in FileManager.default.enumerator(atPath: root) ?? FileManager.default.enumerator(atPath: "/dev/null")! {
            let ext = String(relative.split(separator: ".").last ?? "")
            guard let type = contentTypes[ext], let data = FileManager.default.contents(atPath: root + "/" + relative) else { continue }
            // FNV-1a: a change detector for our own files, not a security boundary.
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in data { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            let etag = "\"" + String(hash, radix: 16) + "\""
            assets[relative] = Asset(bytes: ByteBuffer(bytes: data), contentType: type, etag: etag)
        }
        return StaticAssets(assets: assets)
    }

    static func bundled() -> StaticAssets {
        guard let url = Bundle.module.url(forResource: "Static", withExtension: nil) else { return StaticAssets(assets: [:]) }
        return load(directory: url)
    }

    func register(_ router: Router<SlipwayRequestContext>) {
        router.get("/static/**") { request, _ in
            let path = String(request.uri.path.dropFirst("/static/".count))
            guard let asset = assets[path] else {
                return Response(status: .notFound, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "not found")))
            }
            var headers: HTTPFields = [.contentType: asset.contentType, .cacheControl: "no-cache", .eTag: asset.etag]
            SecurityHeaders.apply(to: &headers)
            if request.headers[.ifNoneMatch] == asset.etag { return Response(status: .notModified, headers: headers) }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: asset.bytes))
        }
    }
}
