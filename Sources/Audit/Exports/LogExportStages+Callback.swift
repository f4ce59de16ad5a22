import Foundation
import Logging
import NIOCore
import OutboundHTTP
import SlipwayCore

/// The `callback` stage: POSTs the export's outcome, with a signed download link, to the
/// callback URL, and decides whether a failed attempt is retried.
extension LogExportStages {
    /// Quay's callback body: `repository` and `exported_data_url` are `null` when absent.
    struct CallbackBody: Encodable {
        let export_id: String
        let start_time: String
        let end_time: String
        let namespace: String
        @NullWhenAbsent var repository: String?
        @NullWhenAbsent var exported_data_url: String?
        let status: String
    }

    func deliverCallback(_ job: LogExport, job queued: QueuedJob) async throws -> JobOutcome {
        guard let url = job.callbackURL else { return .skipped("the export has no callback") }
        let result = job.result ?? .failed
        var link: String?
        if result == .success {
            link = try await links.url(origin: job.origin, exportID: job.uuid,
                                       expiresAt: Clock.nowMillis() / 1000 + Int64(config.logs.exportLinkSeconds))
        }
        // Like Quay, the callback names the requested days as MM/DD/YYYY; `end` is exclusive.
        let body = CallbackBody(export_id: job.uuid, start_time: Self.day(job.start), end_time: Self.day(job.end - 86_400_000),
                                namespace: job.namespaceName, repository: job.repositoryName, exported_data_url: link, status: result.rawValue)
        let attempt = job.callbackAttempts + 1
        let meta: Logger.Metadata = ["export.id": "\(job.uuid)", "attempt": "\(attempt)"]
        let outcome: LogExportCallbackOutcome
        do {
            let status = try await client.send(to: url, body: Self.encodeJSON(body)).status
            if (200..<300).contains(status) {
                outcome = .delivered
            } else {
                outcome = nextStep(attempt: attempt, job: queued, error: "the callback answered \(status)")
            }
        } catch .refused(let why) {
            // The name now resolves somewhere forbidden (or config changed): never retried.
            outcome = .gaveUp(callbackStatus: "refused", error: "callback URL refused: \(why)")
        } catch {
            if Task.isCancelled { throw CancellationError() }  // shutting down: given back, not counted
            outcome = nextStep(attempt: attempt, job: queued, error: "callback \(error)")  // "callback timed out", "callback connection failed: …"
        }
        let finishedAt = Clock.nowMillis()
        let record: JobTransactionBody = { db in
            try await AuditStore.recordLogExportCallback(on: db, id: job.id, outcome: outcome, now: finishedAt)
        }
        switch outcome {
        case .delivered:
            logger.info("delivered log export callback", metadata: meta)
            return .completed(record: record)
        case .retry(let at, let error):
            logger.warning("log export callback failed; will retry", metadata: meta.merging(["error": "\(error)"]) { $1 })
            return .retry(error, at: at, record: record)
        case .gaveUp(_, let error):
            logger.error("log export callback abandoned", metadata: meta.merging(["error": "\(error)"]) { $1 })
            return .failed(error, record: record)
        }
    }

    /// The callback's body as JSON, keys sorted (as the registry writes its JSON).
    static func encodeJSON(_ value: some Encodable) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ByteBuffer(bytes: (try? encoder.encode(value)) ?? Data("{}".utf8))
    }

    func nextStep(attempt: Int, job: QueuedJob, error: String) -> LogExportCallbackOutcome {
        guard attempt < settings.maxCallbackAttempts, !job.isLastAttempt else { return .gaveUp(callbackStatus: "failed", error: error) }
        return .retry(at: now + Self.backoffMillis(attempt: attempt, base: settings.callbackBackoff), error: error)
    }
}
