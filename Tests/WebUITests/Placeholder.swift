import Testing

@Suite("WebUITests placeholder")
struct WebUITestsPlaceholder {}
