import BuildProtocol
import SlipwayCore

/// What the build farm asks of the module that owns build triggers about a build's source:
/// secrets and trust resolved at lease time (so they are never stored in the queue) and the
/// short trigger view shown with a build. The farm cannot import the triggers module (it
/// depends on the farm), so it declares this and the composition root passes the triggers
/// module's implementation in at construction.
public protocol BuildSourceSecrets: Sendable {
    /// The git deploy key (OpenSSH/PEM private key) of a trigger; nil when it has none or is
    /// gone.
    func deployKey(triggerID: Int64) async throws -> String?
    /// The ssh host keys a trigger's git clone trusts (nil for non-ssh sources or a trigger
    /// that is gone).
    func gitHostKeys(triggerID: Int64) async throws -> GitHostKeyPolicy?
    /// The `trigger` object of a build view (Quay's short trigger view), or nil when the
    /// trigger is gone.
    func triggerSummary(triggerID: Int64) async throws -> EventValue?
}

/// A farm without triggers (`slipway admin gc`, a second farm in tests): builds have no
/// trigger to ask about.
public struct NoBuildSourceSecrets: BuildSourceSecrets {
    public init() {}

    public func deployKey(triggerID: Int64) async throws -> String? { nil }
    public func gitHostKeys(triggerID: Int64) async throws -> GitHostKeyPolicy? { nil }
    public func triggerSummary(triggerID: Int64) async throws -> EventValue? { nil }
}
