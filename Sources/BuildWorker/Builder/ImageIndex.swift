// The image index a multi-architecture build pushes (#18): an OCI index
// (`application/vnd.oci.image.index.v1+json`) with one child manifest per platform, each child
// carrying its `platform`. buildah assembles and pushes it (`ImageIndexPusher`); the worker reads
// it back from the registry and checks it against the platforms the build asked for before it
// reports the build complete, so a build never claims an index that lacks a platform.

import BuildProtocol
import Foundation

public struct ImageIndex: Codable, Sendable, Equatable {
    public static let mediaType = "application/vnd.oci.image.index.v1+json"
    static let childMediaTypes: Set<String> = ["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"]

    public struct Platform: Codable, Sendable, Equatable {
        public var architecture: String
        public var os: String
        public var variant: String?

        public init(architecture: String, os: String, variant: String? = nil) {
            self.architecture = architecture
            self.os = os
            self.variant = variant
        }

        /// `os/arch[/variant]`; arm64's only variant `v8` is left out, as `--platform` spells it.
        public var name: String {
            let variant = architecture == "arm64" && variant == "v8" ? nil : variant
            return ([os, architecture] + (variant.map { [$0] } ?? [])).joined(separator: "/")
        }
    }

    public struct Child: Codable, Sendable, Equatable {
        public var mediaType: String
        public var digest: String
        public var size: Int
        public var platform: Platform?
    }

    public var schemaVersion: Int
    public var mediaType: String?
    public var manifests: [Child]

    public struct Mismatch: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// The index in `body` (served as `contentType`), checked to be an OCI index whose children
    /// are exactly one image manifest for each of `platforms`.
    /// - Throws: `Mismatch` saying what differs.
    public static func verified(_ body: Data, contentType: String, platforms: [BuildPlatform]) throws -> ImageIndex {
        guard contentType.split(separator: ";").first.map({ $0.trimmingCharacters(in: .whitespaces) }) == mediaType else {
            throw Mismatch(description: "the registry serves the pushed index as \(contentType), not \(mediaType)")
        }
        let index: ImageIndex
        do {
            index = try JSONDecoder().decode(ImageIndex.self, from: body)
        } catch {
            throw Mismatch(description: "the pushed index is not an OCI image index: \(error)")
        }
        guard index.schemaVersion == 2, index.mediaType == nil || index.mediaType == mediaType else {
            throw Mismatch(description: "the pushed index has schemaVersion \(index.schemaVersion) and mediaType \(index.mediaType ?? "none")")
        }
        var children: [String] = []
        for child in index.manifests {
            guard childMediaTypes.contains(child.mediaType) else {
                throw Mismatch(description: "child \(child.digest) of the pushed index is a \(child.mediaType), not an image manifest")
            }
            guard let platform = child.platform else { throw Mismatch(description: "child \(child.digest) of the pushed index names no platform") }
            children.append(platform.name)
        }
        let expected = platforms.map(\.description)
        guard children.sorted() == expected.sorted() else {
            throw Mismatch(description: "the pushed index holds \(children.joined(separator: ", ")), not \(expected.joined(separator: ", "))")
        }
        return index
    }
}
