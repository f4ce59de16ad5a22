/// What the discovery documents say about one `/api/v1` route beyond what its registration
/// already carries (method, path, path parameters, requirement). Everything is optional: a route
/// without a doc is still listed, with a summary derived from its path and generic bodies.
public struct APIRouteDoc: Sendable {
    /// A query parameter the handler reads.
    public struct Query: Sendable {
        public let name: String
        /// JSON Schema type: `string`, `integer` or `boolean`.
        public let type: String
        public let description: String

        public init(_ name: String, _ type: String = "string", _ description: String = "") {
            self.name = name
            self.type = type
            self.description = description
        }
    }

    public let summary: String?
    public let query: [Query]
    /// A name in `APISchemas` for the JSON request body (nil = a generic object on writes).
    public let request: String?
    /// A name in `APISchemas` for the success body (nil = any JSON).
    public let response: String?

    public init(_ summary: String? = nil, query: [Query] = [], request: String? = nil, response: String? = nil) {
        self.summary = summary
        self.query = query
        self.request = request
        self.response = response
    }
}
