import BuildOrchestrator

/// Placeholder for build triggers (custom-git, GitHub, GitLab, Bitbucket webhooks).
public enum TriggersModule {
    public static let supportedServices = ["custom-git", "github", "gitlab", "bitbucket"]
}
