extension Migrations {
    /// Repository notifications and in-app notifications (versions 40–49).
    static let notifications: [Migration] = []
}
