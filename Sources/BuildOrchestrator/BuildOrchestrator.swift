import BuildProtocol
import Registry

/// Placeholder for the build orchestrator (durable queue, scheduler, worker protocol).
/// It exists now so the module graph of `architecture.md` builds from day one.
public enum BuildOrchestratorModule {
    public static let workerProtocolVersion = 1
}
