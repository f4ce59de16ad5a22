// Fetching an uploaded context or a user's archive URL into the build's work directory, through
// the shared outbound client: redirects are never followed (the orchestrator checked the URL it
// was given, not wherever a redirect points), the body is cut off at the extraction size limit
// before it can fill the disk, and archive URLs pass the same SSRF gate the orchestrator applied
// when the build was requested, now against the addresses actually connected to.

import BuildProtocol
import Foundation
import OutboundHTTP

struct DownloadError: Error, CustomStringConvertible {
    let message: String
    /// A dropped connection or a 5xx: another attempt may succeed.
    var retriable = false
    var description: String { message }
}

extension BuildRunner {
    /// How long a server may send nothing before the download gives up.
    static let downloadIdleTimeout: Duration = .seconds(60)

    /// An uploaded context comes from the orchestrator through the load balancer: a replica
    /// that dies mid-download (a 502, a dropped connection) must not cost the build one of its
    /// attempts, another replica serves the same bytes (`ReplicaRetry`). A user's archive URL
    /// gets one attempt (its server's errors are the user's to see).
    func downloadContext(of pack: BuildPack, from url: String, to file: URL) async throws {
        let isUpload = if case .upload = pack.source { true } else { false }
        let retry = isUpload ? ReplicaRetry() : ReplicaRetry(delays: [])
        try await retry.deliver { try await downloadContextOnce(of: pack, isUpload: isUpload, from: url, to: file) }
    }

    private func downloadContextOnce(of pack: BuildPack, isUpload: Bool, from url: String, to file: URL) async throws {
        let limit = Int64(configuration.extractionLimits.maxTotalBytes)
        let client = OutboundHTTPClient(.init(
            // Uploads come from the orchestrator, which may well be on a loopback or private address.
            allowPrivateTargets: isUpload || pack.allowPrivateTargets == true,
            // The build's own time limit bounds the download too; the idle limit catches a stalled server sooner.
            timeout: .seconds(pack.timeoutSeconds > 0 ? pack.timeoutSeconds : 3600),
            idleTimeout: Self.downloadIdleTimeout,
            maxResponseBodyBytes: limit))
        let download: OutboundHTTPClient.Download
        do {
            download = try await client.download(url, to: file, maxBytes: limit)
        } catch {
            switch error {
            case .cancelled: throw CancellationError()
            case .refused(let why): throw DownloadError(message: "the URL was refused: \(why)")
            case .tooLarge(let limit, let announced?): throw DownloadError(message: "the archive is \(announced) bytes, more than the \(limit)-byte limit")
            case .tooLarge(let limit, nil): throw DownloadError(message: "the archive exceeds the \(limit)-byte limit")
            case .storage(let why): throw DownloadError(message: "cannot store the download: \(why)")
            case .timedOut: throw DownloadError(message: "the download timed out")
            case .connection: throw DownloadError(message: error.description, retriable: true)
            }
        }
        switch download.status {
        case 200..<300:
            return
        case 300..<400:
            throw DownloadError(message: "the server answered with a redirect (HTTP \(download.status)); redirects are not followed, give the final URL")
        default:
            throw DownloadError(message: "the server answered HTTP \(download.status)", retriable: download.status >= 500)
        }
    }
}
