import Foundation
import Logging
import Mail
import NIOCore
import OutboundHTTP
import SlipwayCore

/// The two stages of a log export, one `LogExportJob` each: the handler of the exporter's
/// runner. Here: which stage runs, and `write`; the callback and the retention clean-up are in
/// `LogExportStages+Callback.swift` and `LogExportStages+Retention.swift`.
struct LogExportStages: Sendable {
    let store: AuditStore
    let log: AuditLog
    let storage: any BlobStorageDriver
    let tombstones: BlobTombstones
    let secretBox: SecretBox
    let config: SlipwayConfig
    let logger: Logger
    let settings: LogExporter.Settings
    let links: LogExportLinks
    let client: OutboundHTTPClient

    var jobs: any JobQueueDriver { store.jobs }
    var now: Int64 { jobs.clock.now() }

    /// The runner's handler: the stage the job names, if the export is still at that stage.
    func run(_ job: QueuedJob) async throws -> JobOutcome {
        guard let payload = try? job.decodePayload(LogExportJob.self) else { return .failed("malformed log export job") }
        guard let export = try await store.logExport(id: payload.export) else { return .skipped("the export was deleted") }
        switch (payload.stage, export.status) {
        case (.write, .queued): return try await writeExport(export, job: job)
        case (.callback, .delivering): return try await deliverCallback(export, job: job)
        default: return .skipped("the export is \(export.status.rawValue)")
        }
    }

    // MARK: Writing the export

    struct LogsTimedOut: Error {}

    func writeExport(_ job: LogExport, job queued: QueuedJob) async throws -> JobOutcome {
        guard job.start < job.end else {
            return try await finish(job, result: .invalidrequest, digest: nil, size: nil, error: "invalid time range")
        }
        await log.flush()
        let uploadID = UUID().uuidString.lowercased()
        do {
            try await storage.createUpload(uploadID)
            let writer = try await storage.uploadWriter(uploadID, at: 0)
            let digest: Digest
            let size: Int64
            do {
                (digest, size) = try await streamLogs(job, into: writer)
            } catch {
                await writer.cancel()
                throw error
            }
            // A deletion of identical bytes in progress finishes before these are published.
            try await tombstones.hold(digest.description)
            try await storage.commitUpload(uploadID, as: digest)
            logger.info("exported usage logs", metadata: ["export.id": "\(job.uuid)", "bytes": "\(size)"])
            return try await finish(job, result: .success, digest: digest, size: size, error: nil)
        } catch is LogsTimedOut {
            try? await storage.deleteUpload(uploadID)
            return try await finish(job, result: .timedout, digest: nil, size: nil,
                                    error: "writing the export took longer than \(settings.maximumWorkSeconds) s")
        } catch {
            try? await storage.deleteUpload(uploadID)
            // Shutting down is not the export's fault: the runner gives the job back untried.
            if Task.isCancelled { throw CancellationError() }
            let attempts = job.exportAttempts + 1
            let message = "writing the export failed: \(String(describing: error).prefix(300))"
            logger.error("log export failed", metadata: ["export.id": "\(job.uuid)", "attempt": "\(attempts)", "error": "\(error)"])
            if attempts >= settings.maxExportAttempts || queued.isLastAttempt {
                return try await finish(job, result: .failed, digest: nil, size: nil, error: message)
            }
            let retryAt = now + Self.backoffMillis(attempt: attempts, base: settings.callbackBackoff)
            return .retry(message, at: retryAt, record: { db in
                try await AuditStore.retryLogExportData(on: db, id: job.id, error: message, retryAt: retryAt)
            })
        }
    }

    /// How writing ended: recorded (with the mail to `callback_email`, if any, and the callback's
    /// job) in the transaction that completes the `write` job.
    func finish(_ job: LogExport, result: LogExportResult, digest: Digest?, size: Int64?, error: String?) async throws -> JobOutcome {
        let email = try await completionMail(job, result: result)
        // Recorded (and the mail queued) at the wall clock's time, as the API shows it.
        let (secretBox, jobs, finishedAt) = (self.secretBox, self.jobs, Clock.nowMillis())
        return .completed(record: { db in
            try await AuditStore.finishLogExportData(on: db, job, result: result, digest: digest, size: size, error: error, email: email,
                                                     secretBox: secretBox, jobs: jobs, now: finishedAt)
        })
    }

    /// The mail to `callback_email`: the download link (valid `logs.exportLinkSeconds` from now,
    /// as the callback's) or, when there is no file, that the export failed. Internal error
    /// details stay in the log; the mail says what the requester can act on.
    func completionMail(_ job: LogExport, result: LogExportResult) async throws -> OutgoingMail? {
        guard let address = job.callbackEmail else { return nil }
        let scope = job.repositoryName.map { "\(job.namespaceName)/\($0)" } ?? job.namespaceName
        let range = "\(Self.day(job.start)) to \(Self.day(job.end - 86_400_000))"
        let subject: String
        let body: String
        if result == .success {
            let expiresAt = Clock.nowMillis() / 1000 + Int64(config.logs.exportLinkSeconds)
            let link = try await links.url(origin: job.origin, exportID: job.uuid, expiresAt: expiresAt)
            subject = "Usage logs of \(scope) are ready"
            body = """
                The usage logs of \(scope) for \(range) that you asked for are ready.

                Download them (JSON) from this link:

                \(link)

                The link works until \(APIDates.rfc2822(millis: expiresAt * 1000)).
                Export id: \(job.uuid)
                """
        } else {
            let reason: String
            switch result {
            case .timedout: reason = "writing it took longer than the time allowed"
            case .invalidrequest: reason = "the requested time range is not valid"
            default: reason = "an error occurred while writing it"
            }
            subject = "Usage log export of \(scope) failed"
            body = """
                The export of the usage logs of \(scope) for \(range) did not complete: \(reason).

                Request a new export to try again.
                Export id: \(job.uuid)
                """
        }
        return OutgoingMail(recipient: address, subject: subject, body: body, kind: MailKind.logExport, reference: job.uuid)
    }

    /// Writes the document chunk by chunk, hashing as it goes. Holds one page of entries at a time.
    func streamLogs(_ job: LogExport, into writer: any BlobUploadWriter) async throws -> (Digest, Int64) {
        var digester = StreamingDigester()
        func emit(_ bytes: [UInt8]) async throws {
            bytes.withUnsafeBytes { digester.update($0) }
            try await writer.write(ByteBuffer(bytes: bytes))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let details = ExportDetails(start_time: APIDates.rfc2822(millis: job.start), end_time: APIDates.rfc2822(millis: job.end),
                                    namespace: job.namespaceName, repository: job.repositoryName)
        try await emit(Array(#"{"export_id":"#.utf8) + Array(try encoder.encode(job.uuid)) + Array(#","details":"#.utf8)
                       + Array(try encoder.encode(details)) + Array(#","logs":["#.utf8))
        let began = Clock.nowMillis()
        var cursor: (Int64, Int64)?
        var first = true
        while true {
            let page = try await store.usageLogs(scope: job.scope, start: job.start, end: job.end, performer: nil,
                                                          before: cursor, limit: settings.pageSize)
            if !page.isEmpty {
                var chunk: [UInt8] = []
                for entry in page {
                    if !first { chunk.append(UInt8(ascii: ",")) }
                    first = false
                    chunk += try encoder.encode(UsageLogView(entry))
                }
                try await emit(chunk)
            }
            guard page.count == settings.pageSize, let last = page.last else { break }
            cursor = (last.createdAt, last.id)
            if Clock.nowMillis() - began > settings.maximumWorkSeconds * 1000 { throw LogsTimedOut() }
        }
        try await emit(Array("]}".utf8))
        let size = try await writer.commit()
        return (digester.finalize(.sha256)!, size)
    }

    /// Quay writes `"repository": null` for namespace-wide exports.
    struct ExportDetails: Encodable {
        let start_time: String
        let end_time: String
        let namespace: String
        @NullWhenAbsent var repository: String?
    }

    /// `base * 2^(attempt-1)`, capped at one hour.
    static func backoffMillis(attempt: Int, base: Duration) -> Int64 {
        let baseMillis = base.components.seconds * 1000 + base.components.attoseconds / 1_000_000_000_000_000
        let factor = Int64(1) << Int64(min(max(attempt - 1, 0), 20))
        return min(baseMillis * factor, 3_600_000)
    }

    /// A day as Quay's export mails and callbacks name it (`MM/DD/YYYY`).
    static func day(_ millis: Int64) -> String { APIDates.day(millis: millis) }
}
