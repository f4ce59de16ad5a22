import BuildProtocol
import Foundation
import Registry

/// What the build farm asks of modules that depend on it (the triggers module), installed at
/// start-up. The farm cannot import those modules (they depend on it), so they hand it these
/// closures instead.
public final class BuildFarmHooks: @unchecked Sendable {
    /// The git deploy key (OpenSSH/PEM private key) of a trigger, resolved at lease time so it
    /// is never stored in the queue.
    public typealias DeployKeyLookup = @Sendable (_ triggerID: Int64) async throws -> String?
    /// The `trigger` object of a build view (Quay's short trigger view), or nil when the
    /// trigger is gone.
    public typealias TriggerSummary = @Sendable (_ triggerID: Int64) async throws -> EventValue?
    /// The ssh host keys a trigger's git clone trusts (nil for non-ssh sources), resolved at
    /// lease time.
    public typealias GitHostKeysLookup = @Sendable (_ triggerID: Int64) async throws -> GitHostKeyPolicy?

    private let lock = NSLock()
    private var _deployKey: DeployKeyLookup?
    private var _triggerSummary: TriggerSummary?
    private var _gitHostKeys: GitHostKeysLookup?

    public init() {}

    public var deployKey: DeployKeyLookup? {
        get { lock.withLock { _deployKey } }
        set { lock.withLock { _deployKey = newValue } }
    }

    public var triggerSummary: TriggerSummary? {
        get { lock.withLock { _triggerSummary } }
        set { lock.withLock { _triggerSummary = newValue } }
    }

    public var gitHostKeys: GitHostKeysLookup? {
        get { lock.withLock { _gitHostKeys } }
        set { lock.withLock { _gitHostKeys = newValue } }
    }
}
