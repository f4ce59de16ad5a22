import Registry

/// Matrix rows for the discovery documents: public, as on Quay (they describe routes, never data).
extension MatrixRows {
    static let discovery: [MatrixRow] = [
        MatrixRow(.get, "/api/v1/discovery", expect(200)),
        MatrixRow(.get, "/api/v1/openapi.json", expect(200)),
    ]
}
