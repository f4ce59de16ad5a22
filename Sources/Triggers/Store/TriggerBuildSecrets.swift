import Foundation
import SlipwayCore

/// A trigger's build secrets (`config.build_secrets`): sealed into its row under its uuid, and
/// opened only when one of its builds is queued, where they are sealed again under the build's
/// uuid (`BuildRecord.setInputs`).
extension BuildTrigger {
    static func sealBuildSecrets(_ secrets: [String: String], uuid: String, box: SecretBox) throws -> String? {
        guard !secrets.isEmpty else { return nil }
        let json = String(decoding: try JSONEncoder().encode(secrets), as: UTF8.self)
        return try box.seal(json, context: sealContext(uuid, "build-secrets"))
    }

    func openBuildSecrets(box: SecretBox) throws -> [String: String] {
        guard let sealed = buildSecretsSealed else { return [:] }
        let json = try box.open(sealed, context: Self.sealContext(uuid, "build-secrets"))
        return try JSONDecoder().decode([String: String].self, from: Data(json.utf8))
    }
}
