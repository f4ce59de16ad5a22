import Foundation

/// An SPDX 2.3 JSON document for one built image: the image itself and the base image it was
/// built from (from buildah's `org.opencontainers.image.base.*` annotations), related by
/// `DESCENDANT_OF`. What the build can list on its own; package-level content comes from the
/// security scanner's report of the same manifest.
struct BuildSBOM {
    static let mediaType = "application/spdx+json"

    static func document(repository: String, registry: String, imageDigest: String, annotations: [String: String],
                         buildUUID: String, namespaceURL: String, created: Int64) -> [String: Any] {
        let name = repository.split(separator: "/").last.map(String.init) ?? repository
        var packages: [[String: Any]] = [[
            "SPDXID": "SPDXRef-Image", "name": repository, "versionInfo": imageDigest, "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false, "primaryPackagePurpose": "CONTAINER",
            "externalRefs": [["referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": "pkg:oci/\(name)@\(imageDigest.replacingOccurrences(of: ":", with: "%3A"))?repository_url=\(registry)/\(repository)"]],
        ]]
        var relationships: [[String: String]] = [
            ["spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Image"],
        ]
        if let base = annotations["org.opencontainers.image.base.digest"] {
            packages.append(["SPDXID": "SPDXRef-BaseImage", "name": annotations["org.opencontainers.image.base.name"] ?? "base image",
                             "versionInfo": base, "downloadLocation": "NOASSERTION", "filesAnalyzed": false, "primaryPackagePurpose": "CONTAINER"])
            relationships.append(["spdxElementId": "SPDXRef-Image", "relationshipType": "DESCENDANT_OF", "relatedSpdxElement": "SPDXRef-BaseImage"])
        }
        return [
            "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
            "name": "\(repository)@\(imageDigest)",
            "documentNamespace": "\(namespaceURL)/spdx/\(repository)/\(imageDigest)/\(buildUUID)",
            "creationInfo": ["created": BuildProvenance.iso(created), "creators": ["Tool: slipway"]],
            "packages": packages, "relationships": relationships,
        ]
    }
}
