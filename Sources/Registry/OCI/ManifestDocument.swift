import Foundation
import SlipwayCore

/// A descriptor as it appears inside manifests.
public struct Descriptor: Codable, Sendable, Equatable {
    public var mediaType: String
    public var digest: Digest
    public var size: Int64
    public var artifactType: String?
    public var annotations: [String: String]?
    public var platform: Platform?
    /// Where a non-distributable ("foreign") layer can be fetched instead of this registry.
    public var urls: [String]?

    public struct Platform: Codable, Sendable, Equatable {
        public var architecture: String?
        public var os: String?
        public var variant: String?
    }

    public init(mediaType: String, digest: Digest, size: Int64, artifactType: String? = nil, annotations: [String: String]? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.artifactType = artifactType
        self.annotations = annotations
    }
}

/// What Slipway needs to know about a pushed manifest: its type, the blobs and child manifests it
/// references, and the OCI 1.1 `subject`/`artifactType` for the referrers API. The raw bytes are
/// stored untouched; this is only the parsed view used for validation and indexing.
public struct ManifestDocument: Sendable {
    public let mediaType: String
    public let config: Descriptor?
    public let layers: [Descriptor]
    public let manifests: [Descriptor]
    public let subject: Descriptor?
    public let artifactType: String?
    public let annotations: [String: String]?

    public var isIndex: Bool { MediaTypes.isIndex(mediaType) }

    /// Blobs the manifest references (config first, then layers).
    public var referencedBlobs: [Descriptor] { (config.map { [$0] } ?? []) + layers }

    /// Blobs that must be in the repository before the manifest is accepted: all referenced
    /// blobs but the non-distributable layers that name `urls` to fetch them from (OCI's
    /// `…layer.nondistributable.*`, Docker's foreign layers), which clients never push.
    public var requiredBlobs: [Descriptor] {
        referencedBlobs.filter { !(MediaTypes.isNonDistributableLayer($0.mediaType) && !($0.urls ?? []).isEmpty) }
    }

    private struct Wire: Decodable {
        var schemaVersion: Int?
        var mediaType: String?
        var config: Descriptor?
        var layers: [Descriptor]?
        var manifests: [Descriptor]?
        var subject: Descriptor?
        var artifactType: String?
        var annotations: [String: String]?
    }

    /// Parses `bytes` sent with `Content-Type: contentType`. Throws `MANIFEST_INVALID` (400) for
    /// malformed documents and an unsupported-media-type error (415) for types Slipway does not store.
    public init(bytes: some DataProtocol, contentType: String?) throws(RegistryError) {
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(bytes))
        } catch let error as RegistryError {
            throw error
        } catch let error as DigestError {
            throw .digestInvalid(error.message)
        } catch {
            throw RegistryError(.manifestInvalid, "manifest is not valid JSON or has malformed fields: \(Self.describe(error))")
        }
        let headerType = contentType.map { Self.bareMediaType($0) }.flatMap { $0.isEmpty ? nil : $0 }
        guard let type = wire.mediaType ?? headerType ?? Self.inferType(wire) else {
            throw RegistryError(.manifestInvalid, "manifest has no mediaType and none was given in Content-Type")
        }
        if let headerType, headerType != type, headerType != "application/json" {
            throw RegistryError(.manifestInvalid, "Content-Type '\(headerType)' does not match the manifest's mediaType '\(type)'")
        }
        guard MediaTypes.supportedManifests.contains(type) else {
            throw RegistryError(.manifestInvalid, "unsupported manifest media type '\(type.prefix(128))'; supported: \(MediaTypes.supportedManifests.sorted().joined(separator: ", "))",
                                status: .unsupportedMediaType)
        }
        guard wire.schemaVersion == 2 else {
            throw RegistryError(.manifestInvalid, "manifest schemaVersion must be 2")
        }
        if MediaTypes.isIndex(type) {
            guard let manifests = wire.manifests else { throw RegistryError(.manifestInvalid, "an index must have a 'manifests' array") }
            if wire.config != nil || wire.layers != nil { throw RegistryError(.manifestInvalid, "an index must not have 'config' or 'layers'") }
            self.manifests = manifests
            self.config = nil
            self.layers = []
        } else {
            guard let config = wire.config else { throw RegistryError(.manifestInvalid, "an image manifest must have a 'config' descriptor") }
            guard let layers = wire.layers else { throw RegistryError(.manifestInvalid, "an image manifest must have a 'layers' array") }
            if wire.manifests != nil { throw RegistryError(.manifestInvalid, "an image manifest must not have 'manifests'") }
            self.config = config
            self.layers = layers
            self.manifests = []
        }
        for d in (config.map { [$0] } ?? []) + layers + manifests where d.size < 0 {
            throw RegistryError(.manifestInvalid, "descriptor \(d.digest) has a negative size")
        }
        self.mediaType = type
        self.subject = wire.subject
        self.artifactType = wire.artifactType
        self.annotations = wire.annotations
    }

    /// The artifact type for the referrers API: `artifactType`, else the config media type.
    public var effectiveArtifactType: String? {
        if let artifactType { return artifactType }
        if let config, config.mediaType != MediaTypes.ociEmpty { return config.mediaType }
        return nil
    }

    static func bareMediaType(_ header: String) -> String {
        header.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
    }

    private static func inferType(_ wire: Wire) -> String? {
        if wire.manifests != nil { return MediaTypes.ociIndex }
        if wire.config != nil { return MediaTypes.ociManifest }
        return nil
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return "wrong type at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let ctx):
            if let underlying = ctx.underlyingError as? RegistryError { return "at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))': \(underlying.message)" }
            return "malformed JSON"
        case let e as RegistryError: return e.message
        default: return "malformed JSON"
        }
    }
}
