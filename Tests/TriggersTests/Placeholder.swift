import Testing

@Suite("TriggersTests placeholder")
struct TriggersTestsPlaceholder {}
