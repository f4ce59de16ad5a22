import Foundation

/// Matrix rows for the scanner's security endpoint (ScanService): repository read, as the
/// manifest it describes.
extension MatrixRows {
    static let security: [MatrixRow] = [
        MatrixRow(.get, "/api/v1/repository/{repository}/manifest/{manifestref}/security", readApp) { f, _ in
            ("/api/v1/repository/acme/app/manifest/\(try await appDigest(f))/security?vulnerabilities=true", nil)
        },
    ]
}
