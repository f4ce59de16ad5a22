import Foundation
import Registry
import SlipwayCore

/// A build trigger as stored. Secrets stay sealed here; `TriggerSecrets` opens them.
public struct BuildTrigger: Sendable, Equatable {
    public enum DisabledReason: String, Sendable {
        case userToggled = "user_toggled"
        case successiveBuildFailures = "successive_build_failures"
        case successiveBuildInternalErrors = "successive_build_internal_errors"
    }

    public var id: Int64
    public var uuid: String
    public var repositoryID: Int64
    public var service: String
    public var connectedUserID: Int64?
    /// The public config (JSON object), as the API shows it minus `credentials`.
    public var config: TriggerConfig
    public var publicKey: String?
    public var privateKeySealed: String?
    public var urlSecretSealed: String?
    public var signingSecretSealed: String?
    public var pullRobotID: Int64?
    public var isActive: Bool
    public var enabled: Bool
    public var disabledReason: DisabledReason?
    public var disabledAt: Int64?
    /// Builds that finished before this instant no longer count towards auto-disabling.
    public var countersSince: Int64
    public var createdAt: Int64
    public var activatedAt: Int64?
    /// The ssh host keys its clones trust (nil: none recorded yet, or not an ssh source).
    var hostKeys: PinnedHostKeys?
    /// The build secrets of its builds (JSON id → value), sealed; their ids are in the config.
    var buildSecretsSealed: String? = nil

    /// The context a sealed secret of this trigger is bound to (a sealed value copied into
    /// another trigger's row does not open there).
    static func sealContext(_ uuid: String, _ what: String) -> String { "trigger:\(uuid):\(what)" }
}

/// One entry of a trigger's recent activity.
public struct TriggerActivity: Sendable, Equatable {
    public enum Outcome: String, Sendable { case queued, skipped, refused }
    public var source: String  // webhook | manual
    public var outcome: Outcome
    public var reason: String?
    public var ref: String?
    public var commit: String?
    public var buildUUID: String?
    public var createdAt: Int64
}
