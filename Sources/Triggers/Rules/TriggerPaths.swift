import Registry
import SlipwayCore

/// Where the Dockerfile and context are inside the clone (the same rules as uploaded builds,
/// §1.4): `dockerfile_path` set → that file, context = `context` or the file's directory; else
/// the context's `Dockerfile`. Leading slashes (the UI sends `/Dockerfile`) are dropped; `..`
/// is refused.
enum TriggerPaths {
    struct Resolved: Equatable { let context: String; let dockerfile: String }

    static func normalise(_ path: String?) throws(DomainError) -> String {
        let parts = (path ?? "").split(separator: "/").filter { $0 != "." && !$0.isEmpty }
        if parts.contains("..") { throw DomainError.invalidInput("build paths may not contain '..'") }
        return parts.joined(separator: "/")
    }

    static func resolve(dockerfilePath: String?, context: String?) throws(DomainError) -> Resolved {
        let dockerfile = try normalise(dockerfilePath)
        let ctx = try normalise(context)
        if !dockerfile.isEmpty {
            let dir = dockerfile.split(separator: "/").dropLast().joined(separator: "/")
            let c = (context.map { !$0.isEmpty } ?? false) ? ctx : dir
            guard c.isEmpty || dockerfile.hasPrefix(c + "/") else {
                throw DomainError.invalidInput("the Dockerfile (\(dockerfile)) must be inside the build context (\(c))")
            }
            return Resolved(context: c, dockerfile: dockerfile)
        }
        return Resolved(context: ctx, dockerfile: ctx.isEmpty ? "Dockerfile" : ctx + "/Dockerfile")
    }
}
