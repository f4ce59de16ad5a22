import BuildOrchestrator
import BuildProtocol
import Foundation
import Registry
import SlipwayCore

/// A trigger's public configuration (Quay's trigger `config`): the git URL, where the
/// Dockerfile and context are, the tagging rules and the branch/tag filter. Stored as the JSON
/// object the API shows (credentials are added to the view, never stored here).
public struct TriggerConfig: Sendable, Equatable {
    public var buildSource: String?
    public var dockerfilePath: String?
    public var context: String?
    public var branchtagRegex: String?
    public var defaultTagFromRef: Bool
    public var latestForDefaultBranch: Bool
    public var tagTemplates: [String]
    /// For GitHub/GitLab/Bitbucket payloads that do not name the default branch.
    public var defaultBranch: String?
    /// `--build-arg`s of every build of the trigger (`build_args`, plain).
    public var buildArgs: [String: String] = [:]
    /// The ids of the trigger's build secrets (`build_secret_ids`, shown); the values are sealed
    /// in the trigger's row, never in the config.
    public var buildSecretIDs: [String] = []
    /// `cache_repository`: the registry layer cache of its builds (`namespace/name`, checked
    /// with the configuring user's access by the API).
    public var cacheRepository: String?
    /// `platforms`: every build of the trigger builds these and pushes one image index
    /// (`BuildPlatforms`); empty: one build for the worker's own platform.
    public var platforms: [String] = []

    public init(buildSource: String? = nil, dockerfilePath: String? = nil, context: String? = nil, branchtagRegex: String? = nil,
                defaultTagFromRef: Bool = true, latestForDefaultBranch: Bool = true, tagTemplates: [String] = [], defaultBranch: String? = nil) {
        self.buildSource = buildSource
        self.dockerfilePath = dockerfilePath
        self.context = context
        self.branchtagRegex = branchtagRegex
        self.defaultTagFromRef = defaultTagFromRef
        self.latestForDefaultBranch = latestForDefaultBranch
        self.tagTemplates = tagTemplates
        self.defaultBranch = defaultBranch
    }

    /// The JSON object shown by the API (and stored).
    public var object: [String: EventValue] {
        var o: [String: EventValue] = [
            "default_tag_from_ref": .bool(defaultTagFromRef), "latest_for_default_branch": .bool(latestForDefaultBranch),
        ]
        if let buildSource { o["build_source"] = .string(buildSource) }
        if let dockerfilePath { o["dockerfile_path"] = .string(dockerfilePath) }
        if let context { o["context"] = .string(context) }
        if let branchtagRegex { o["branchtag_regex"] = .string(branchtagRegex) }
        if !tagTemplates.isEmpty { o["tag_templates"] = .strings(tagTemplates) }
        if let defaultBranch { o["default_branch"] = .string(defaultBranch) }
        if !buildArgs.isEmpty { o["build_args"] = .object(buildArgs.mapValues { .string($0) }) }
        if !buildSecretIDs.isEmpty { o["build_secret_ids"] = .strings(buildSecretIDs) }
        if let cacheRepository { o["cache_repository"] = .string(cacheRepository) }
        if !platforms.isEmpty { o["platforms"] = .strings(platforms) }
        return o
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(object)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// Reads a stored config; what cannot be read falls back to the defaults (a stored config
    /// was validated when it was written).
    init(json: String) {
        self.init()
        guard case .object(let o)? = EventValue.parse(json) else { return }
        buildSource = o["build_source"]?.stringValue
        dockerfilePath = o["dockerfile_path"]?.stringValue
        context = o["context"]?.stringValue
        branchtagRegex = o["branchtag_regex"]?.stringValue
        if case .bool(let b)? = o["default_tag_from_ref"] { defaultTagFromRef = b }
        if case .bool(let b)? = o["latest_for_default_branch"] { latestForDefaultBranch = b }
        switch o["tag_templates"] {
        case .strings(let s)?: tagTemplates = s
        case .array(let a)?: tagTemplates = a.compactMap(\.stringValue)
        default: break
        }
        defaultBranch = o["default_branch"]?.stringValue
        cacheRepository = o["cache_repository"]?.stringValue
        if case .object(let args)? = o["build_args"] { buildArgs = args.compactMapValues(\.stringValue) }
        switch o["build_secret_ids"] {
        case .strings(let ids)?: buildSecretIDs = ids
        case .array(let a)?: buildSecretIDs = a.compactMap(\.stringValue)
        default: break
        }
        switch o["platforms"] {
        case .strings(let p)?: platforms = p
        case .array(let a)?: platforms = a.compactMap(\.stringValue)
        default: break
        }
    }
}

/// Validation of the `config` object sent to `activate`, `analyze` and `PUT` (one validation for
/// all three).
enum TriggerConfigValidation {
    static let maxTemplates = 20
    static let maxTemplateLength = 255
    static let maxRegexLength = 512
    static let maxURLLength = 2048

    struct Validated {
        var config: TriggerConfig
        /// `webhook_secret`: the secret shared with GitHub/GitLab/Bitbucket for signatures.
        var signingSecret: String?
        /// `ssh_known_hosts`: the git server's host keys as `known_hosts` lines, trusted as
        /// given instead of being read from the server. Kept with the trigger's host keys, not
        /// in the config.
        var pastedHostKeys: [SSHHostKey]?
        /// `build_secrets`: the secrets every build of the trigger gets (nil: not in the request,
        /// the trigger keeps the ones it has; empty: remove them). Sealed into the trigger's row.
        var buildSecrets: [String: String]?
    }

    static func validate(_ raw: [String: EventValue]) throws(DomainError) -> Validated {
        func string(_ key: String, max: Int = 1024, allowingNewlines: Bool = false) throws(DomainError) -> String? {
            switch raw[key] {
            case nil, .null?: return nil
            case .string(let s)?:
                guard s.count <= max else { throw DomainError.invalidInput("config.\(key) is too long (at most \(max) characters)") }
                let allowed: Set<Unicode.Scalar> = allowingNewlines ? ["\n", "\r", "\t"] : []
                guard !s.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && !allowed.contains($0) }) else {
                    throw DomainError.invalidInput("config.\(key) may not contain control characters")
                }
                return s
            default: throw DomainError.invalidInput("config.\(key) must be a string")
            }
        }
        func bool(_ key: String, default value: Bool) throws(DomainError) -> Bool {
            switch raw[key] {
            case nil, .null?: return value
            case .bool(let b)?: return b
            default: throw DomainError.invalidInput("config.\(key) must be a boolean")
            }
        }
        guard let source = try string("build_source", max: maxURLLength), !source.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw DomainError.invalidInput("config.build_source is required: the git URL the worker clones")
        }
        try GitURLRules.check(source)
        var config = TriggerConfig(buildSource: source)
        config.dockerfilePath = try string("dockerfile_path")
        config.context = try string("context")
        _ = try TriggerPaths.resolve(dockerfilePath: config.dockerfilePath, context: config.context)
        if let regex = try string("branchtag_regex", max: maxRegexLength), !regex.isEmpty {
            guard (try? NSRegularExpression(pattern: regex)) != nil else {
                throw DomainError.invalidInput("config.branchtag_regex is not a valid regular expression: \(regex)")
            }
            config.branchtagRegex = regex
        }
        config.defaultTagFromRef = try bool("default_tag_from_ref", default: true)
        config.latestForDefaultBranch = try bool("latest_for_default_branch", default: true)
        var templates: [String] = []
        switch raw["tag_templates"] {
        case nil, .null?: break
        case .strings(let s)?: templates = s
        case .array(let a)? where a.isEmpty: break
        default: throw DomainError.invalidInput("config.tag_templates must be an array of strings")
        }
        guard templates.count <= maxTemplates else { throw DomainError.invalidInput("config.tag_templates takes at most \(maxTemplates) templates") }
        for t in templates {
            guard !t.isEmpty, t.count <= maxTemplateLength else {
                throw DomainError.invalidInput("config.tag_templates entries must be 1 to \(maxTemplateLength) characters")
            }
            switch TagTemplate.parse(t) {
            case .failure(let e): throw DomainError.invalidInput("config.tag_templates: \(e.message)")
            case .success(let template):
                if let unknown = template.unknownVariables.first {
                    throw DomainError.invalidInput("config.tag_templates: '${\(unknown)}' in '\(t)' is not a template variable; "
                                                  + "use one of \(TagTemplate.variables.map { "${\($0)}" }.joined(separator: ", "))")
                }
            }
        }
        config.tagTemplates = templates
        if let branch = try string("default_branch", max: 255), !branch.isEmpty {
            guard GitRefRules.isValidName(branch) else { throw DomainError.invalidInput("config.default_branch is not a valid branch name") }
            config.defaultBranch = branch
        }
        var secret: String?
        if let s = try string("webhook_secret", max: 256), !s.isEmpty {
            guard s.count >= 8 else { throw DomainError.invalidInput("config.webhook_secret must be at least 8 characters") }
            secret = s
        }
        var pasted: [SSHHostKey]?
        if let lines = try string("ssh_known_hosts", max: KnownHostsLines.maxLength, allowingNewlines: true),
           !lines.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            guard SSHEndpoint.parse(source) != nil else {
                throw DomainError.invalidInput("config.ssh_known_hosts is for ssh URLs; config.build_source '\(source)' is not one")
            }
            pasted = try KnownHostsLines.parse(lines, field: "config.ssh_known_hosts")
        }
        func stringMap(_ key: String) throws(DomainError) -> [String: String]? {
            switch raw[key] {
            case nil, .null?: return nil
            case .object(let o)?:
                var map: [String: String] = [:]
                for (name, value) in o {
                    guard let text = value.stringValue else { throw DomainError.invalidInput("config.\(key).\(name.prefix(64)) must be a string") }
                    map[name] = text
                }
                return map
            default: throw DomainError.invalidInput("config.\(key) must be an object of strings")
            }
        }
        func stringList(_ key: String) throws(DomainError) -> [String]? {
            switch raw[key] {
            case nil, .null?: return nil
            case .strings(let list)?: return list
            case .array(let a)?:
                let list = a.compactMap(\.stringValue)
                guard list.count == a.count else { throw DomainError.invalidInput("config.\(key) must be a list of strings") }
                return list
            default: throw DomainError.invalidInput("config.\(key) must be a list of strings")
            }
        }
        if let cache = try string("cache_repository", max: 512), !cache.isEmpty { config.cacheRepository = cache }
        let secrets = try stringMap("build_secrets")
        do {
            config.platforms = try BuildPlatforms.validated(try stringList("platforms"))
            let inputs = try BuildInputs.validated(arguments: try stringMap("build_args"), secrets: secrets)
            config.buildArgs = inputs.arguments
            config.buildSecretIDs = inputs.secrets.keys.sorted()
        } catch let error as BuildInputError {
            throw DomainError.invalidInput("config.\(error.message)")
        } catch let error as DomainError {
            throw error
        } catch {
            throw DomainError.invalidInput("\(error)")
        }
        return Validated(config: config, signingSecret: secret, pastedHostKeys: pasted, buildSecrets: secrets)
    }
}
