extension Migrations {
    /// Build triggers (versions 30–39).
    static let triggers: [Migration] = []
}
