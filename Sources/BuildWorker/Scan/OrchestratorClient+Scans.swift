// The worker's side of the scan worker protocol (`ScanWorkerProtocol`): JSON over HTTP with the
// worker token, plus the lease token on every call about a job; layers come down streamed into
// a file through the shared outbound client, capped at the size the lease announced.

import Foundation
import OutboundHTTP
import Scanner
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The server no longer lets this worker finish the scan (its claim expired and another
/// consumer may have it): the worker drops it.
public struct ScanLeaseLost: Error, CustomStringConvertible {
    public let jobID: Int64
    public var description: String { "the lease of scan job \(jobID) was lost" }
}

extension OrchestratorClient {
    /// Long-polls for a scan; nil when none arrived in time.
    public func leaseScan() async throws -> ScanLease? {
        let (status, data) = try await post(ScanWorkerProtocol.leasePath, ScanLeaseRequest(workerID: workerID), timeout: 40)
        switch status {
        case 200: return try JSONDecoder().decode(ScanLease.self, from: data)
        case 204: return nil
        default: throw ProtocolError(status: status, description: "scan lease failed with HTTP \(status): \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
    }

    /// Extends the scan's claim; throws `ScanLeaseLost` when the server refuses.
    public func heartbeatScan(_ lease: ScanLease) async throws {
        let (status, _) = try await post(ScanWorkerProtocol.jobPath(lease.jobID, "heartbeat"), ScanLeaseRequest(workerID: workerID), lease: lease.leaseToken)
        if status == 409 { throw ScanLeaseLost(jobID: lease.jobID) }
        guard status == 204 else { throw ProtocolError(status: status, description: "scan heartbeat refused with HTTP \(status)") }
    }

    /// Streams a leased layer into `file` (never whole in memory), at most the announced size.
    public func downloadLayer(_ lease: ScanLease, _ layer: ScanLease.Layer, to file: URL) async throws {
        let url = baseURL.absoluteString.trimmingCharacters(in: ["/"]) + ScanWorkerProtocol.layerPath(lease.jobID, layer.digest)
        let client = OutboundHTTPClient(.init(
            // The orchestrator is often on a loopback or private address; the URL is its own.
            allowPrivateTargets: true,
            // A large layer on a slow link: the idle limit catches a stalled server.
            timeout: .seconds(6 * 3600), idleTimeout: .seconds(60), maxResponseBodyBytes: max(0, layer.size)))
        let download = try await client.download(url, to: file, maxBytes: max(0, layer.size), headers: [
            ("Authorization", "Bearer \(token)"), (ScanWorkerProtocol.leaseHeader, lease.leaseToken), ("X-Slipway-Worker", workerID),
        ])
        if download.status == 409 { throw ScanLeaseLost(jobID: lease.jobID) }
        guard download.status == 200 else {
            throw ProtocolError(status: download.status, description: "layer \(layer.digest) download failed with HTTP \(download.status)")
        }
    }

    /// Hands what one layer holds (or why it cannot be indexed) to the server.
    public func reportLayer(_ lease: ScanLease, _ layer: ScanLease.Layer, _ result: ScanLayerResult) async throws {
        let url = baseURL.absoluteString.trimmingCharacters(in: ["/"]) + ScanWorkerProtocol.layerPath(lease.jobID, layer.digest)
        let (status, data) = try await post(url: URL(string: url)!, result, lease: lease.leaseToken, timeout: 120)
        if status == 409 { throw ScanLeaseLost(jobID: lease.jobID) }
        guard status == 204 else {
            throw ProtocolError(status: status, description: "layer report refused with HTTP \(status): \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
    }

    /// Ends the attempt: the server matches and stores the report (or, with an error, retries the job later).
    public func completeScan(_ lease: ScanLease, _ completion: ScanCompletion) async throws {
        // Matching a large image against the loaded data takes a while on a busy server.
        let (status, data) = try await post(ScanWorkerProtocol.jobPath(lease.jobID, "complete"), completion, lease: lease.leaseToken, timeout: 300)
        if status == 409 { throw ScanLeaseLost(jobID: lease.jobID) }
        guard status == 204 else {
            throw ProtocolError(status: status, description: "scan completion refused with HTTP \(status): \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
    }
}
