import Testing

@Suite("NotificationsTests placeholder")
struct NotificationsTestsPlaceholder {}
