/// A build trigger in a few words, as Quay's UI names one (its `TriggerService.getDescription`):
/// what pushing where builds this repository. The usage-log sentences and the build page's
/// Source row both use it.
enum TriggerDescription {
    /// "push to repository git@host:app.git"; GitHub, GitLab and Bitbucket name their service.
    /// Without a build source (a trigger not yet set up, or deleted since): "custom-git trigger".
    static func text(service: String?, buildSource: String?) -> String {
        let service = service ?? ""
        guard let source = buildSource, !source.isEmpty else { return service.isEmpty ? "trigger" : "\(service) trigger" }
        switch service {
        case "github": return "push to GitHub \(source)"
        case "bitbucket": return "push to BitBucket repository \(source)"
        case "gitlab": return "push to GitLab repository \(source)"
        default: return "push to repository \(source)"
        }
    }
}
