/// Manifest media types Slipway stores and serves.
public enum MediaTypes {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let ociEmpty = "application/vnd.oci.empty.v1+json"

    public static let supportedManifests: Set<String> = [ociManifest, ociIndex, dockerManifest, dockerManifestList]

    public static func isIndex(_ type: String) -> Bool { type == ociIndex || type == dockerManifestList }

    /// Layers a registry need not hold: OCI's non-distributable layer types (deprecated in
    /// image-spec 1.1 but still pushed) and Docker's foreign layers (Windows base images).
    public static func isNonDistributableLayer(_ type: String) -> Bool {
        type.hasPrefix("application/vnd.oci.image.layer.nondistributable.") || type.hasPrefix("application/vnd.docker.image.rootfs.foreign.")
    }
}
