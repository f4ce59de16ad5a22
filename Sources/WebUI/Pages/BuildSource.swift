import Accounts
import BuildOrchestrator
import Foundation
import Registry
import Triggers

/// What started a build, for the build page's Source and Commit rows and the Builds tab. A build
/// a trigger started names the trigger as Quay does (its service and what pushing where builds
/// it: "custom-git trigger: push to repository git@host:app.git"); the commit it checked out,
/// and the branch or tag the push named, go on a row of their own.
struct BuildSource: Sendable {
    /// The Source row.
    let text: String
    /// A short identifier shown muted after the source (uploads and archives: the build's name).
    let detail: String?
    /// The commit (or ref) a git build checked out, in full.
    let commit: String?
    /// "branch main" / "tag v1.0", from the trigger metadata's `ref`.
    let ref: String?

    static func of(_ b: BuildRecord, accounts: AccountStore, triggers: TriggerStore) async throws -> BuildSource {
        var text: String
        var detail: String? = b.displayName
        if let triggerID = b.triggerID {
            let trigger = try await triggers.trigger(id: triggerID)
            let metadata = b.triggerMetadata.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any] ?? [:]
            let service = trigger?.service ?? metadata["trigger_kind"] as? String ?? "build"
            let description = TriggerDescription.text(service: service, buildSource: trigger?.config.buildSource ?? b.gitURL)
            text = description.hasSuffix("trigger") ? description : "\(service) trigger: \(description)"
            // A trigger build's name is its short commit, which the Commit row shows in full.
            detail = nil
            return BuildSource(text: text + (try await startedBy(b, accounts: accounts).map { ", run manually by \($0)" } ?? ""), detail: detail,
                               commit: b.commitSHA, ref: (metadata["ref"] as? String).flatMap(Self.describeRef))
        }
        switch b.sourceKind {
        case "upload": text = "Uploaded file"
        case "archive_url": text = "Archive \(b.archiveURL ?? "")"
        default: text = b.gitURL.map { "Git \($0)" } ?? b.sourceKind
        }
        if b.commitSHA != nil { detail = nil }
        if let user = try await startedBy(b, accounts: accounts) { text += " by \(user)" }
        return BuildSource(text: text, detail: detail, commit: b.commitSHA, ref: nil)
    }

    private static func startedBy(_ b: BuildRecord, accounts: AccountStore) async throws -> String? {
        guard let id = b.manualUserID else { return nil }
        return try await accounts.namespace(id: id)?.name
    }

    static func describeRef(_ ref: String) -> String? {
        if ref.hasPrefix("refs/heads/") { return "branch " + ref.dropFirst("refs/heads/".count) }
        if ref.hasPrefix("refs/tags/") { return "tag " + ref.dropFirst("refs/tags/".count) }
        return ref.isEmpty ? nil : ref
    }
}
