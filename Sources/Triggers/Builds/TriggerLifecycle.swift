import Foundation
import Registry
import SlipwayCore

/// Auto-disabling after successive failures (§4.6). The counters are derived from the trigger's
/// finished builds since `counters_since` (re-enabling moves it), newest first: `complete`
/// resets both; `error` counts a failure and ends the internal-error run; `internalerror`
/// counts an internal error. Evaluated whenever the trigger is about to build or is shown, so
/// no hook into the queue's completion path is needed.
struct TriggerLifecycle: Sendable {
    static let failureThreshold = 100
    static let internalErrorThreshold = 5

    let store: TriggerStore

    struct Counters: Equatable { var failures = 0; var internalErrors = 0 }

    static func counters(finalPhasesNewestFirst phases: [String]) -> Counters {
        var c = Counters()
        var internalRunOpen = true
        for phase in phases {
            switch phase {
            case "complete": return c
            case "error":
                c.failures += 1
                internalRunOpen = false
            case "internalerror":
                if internalRunOpen { c.internalErrors += 1 }
            default: continue  // cancelled builds say nothing about the trigger
            }
        }
        return c
    }

    /// Final phases worth reading for the counters: one more than the larger threshold.
    static let phaseLimit = failureThreshold + 1

    func counters(_ t: BuildTrigger) async throws -> Counters {
        let phases = try await store.triggerFinalPhases(triggerID: t.id, since: t.countersSince, limit: Self.phaseLimit)
        return Self.counters(finalPhasesNewestFirst: phases)
    }

    /// The trigger, disabled now if its counters crossed a threshold.
    func refresh(_ t: BuildTrigger) async throws -> BuildTrigger {
        guard t.enabled, t.isActive else { return t }
        return try await refresh(t, counters: try await counters(t))
    }

    /// `refresh` with counters the caller read already (the webhook reads them alongside the
    /// repository).
    func refresh(_ t: BuildTrigger, counters c: Counters) async throws -> BuildTrigger {
        guard t.enabled, t.isActive else { return t }
        let reason: BuildTrigger.DisabledReason? = c.failures >= Self.failureThreshold ? .successiveBuildFailures
            : c.internalErrors >= Self.internalErrorThreshold ? .successiveBuildInternalErrors : nil
        guard let reason else { return t }
        try await store.setTriggerEnabled(id: t.id, enabled: false, reason: reason)
        var updated = t
        updated.enabled = false
        updated.disabledReason = reason
        updated.disabledAt = Clock.nowMillis()
        return updated
    }
}
