import SlipwayCore

extension Digest {
    /// Parses a digest from a registry request, failing as `DIGEST_INVALID`.
    init(validating text: String) throws(RegistryError) {
        do {
            try self.init(parsing: text)
        } catch {
            throw .digestInvalid(error.message)
        }
    }
}

