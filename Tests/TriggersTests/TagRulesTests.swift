import Registry
import Testing
@testable import Triggers
import SlipwayCore

/// Tag naming (guide: "Tag naming for build triggers"; quay-reference §4.5) and skip rules
/// (§4.4), table by table.
@Suite("Trigger tags and skip rules")
struct TagRulesTests {
    static let sha = "b7f7d2b948aacbe844ee465122a85a9368b2b735"

    static func metadata(ref: String? = "refs/heads/master", defaultBranch: String? = "master",
                         message: String = "adding 5") -> [String: EventValue] {
        var m: [String: EventValue] = [
            "commit": .string(sha), "git_url": .string("git@github.com:dgangaia/test.git"),
            "commit_info": .object([
                "url": .string("https://github.com/dgangaia/test/commit/\(sha)"), "date": .string("2019-03-06T12:48:24+11:00"),
                "message": .string(message),
                "author": .object(["username": .string("dgangaia"), "url": .string("https://github.com/dgangaia")]),
                "committer": .object(["username": .string("web-flow")]),
            ]),
        ]
        if let ref { m["ref"] = .string(ref) }
        if let defaultBranch { m["default_branch"] = .string(defaultBranch) }
        return m
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let templates: [String]
        let ref: String?
        let fromRef: Bool
        let latest: Bool
        let expected: [String]
        var testDescription: String { "\(templates) \(ref ?? "-") fromRef=\(fromRef) latest=\(latest)" }
    }

    static let cases: [Case] = [
        // The guide's templates, one by one (the defaults add the branch and latest).
        Case(templates: ["${commit}"], ref: "refs/heads/master", fromRef: false, latest: false, expected: [sha]),
        Case(templates: ["${commit_info.short_sha}"], ref: "refs/heads/master", fromRef: false, latest: false, expected: ["b7f7d2b"]),
        Case(templates: ["${parsed_ref.branch}"], ref: "refs/heads/feature/x", fromRef: false, latest: false, expected: ["feature_x"]),
        Case(templates: ["${parsed_ref.tag}"], ref: "refs/tags/v1.2.3", fromRef: false, latest: false, expected: ["v1.2.3"]),
        Case(templates: ["${parsed_ref.remote}"], ref: "refs/remotes/origin/main", fromRef: false, latest: false, expected: ["origin_main"]),
        Case(templates: ["${commit_info.date}"], ref: "refs/heads/master", fromRef: false, latest: false, expected: ["2019-03-06T12_48_24_11_00"]),
        Case(templates: ["${commit_info.author.username}"], ref: "refs/heads/master", fromRef: false, latest: false, expected: ["dgangaia"]),
        Case(templates: ["${committer.properties.username}"], ref: "refs/heads/master", fromRef: false, latest: false, expected: ["web-flow"]),
        Case(templates: ["${default_branch}"], ref: "refs/heads/dev", fromRef: false, latest: false, expected: ["master"]),
        Case(templates: ["${ref}"], ref: "refs/heads/dev", fromRef: false, latest: false, expected: ["refs_heads_dev"]),
        // Literals around fields; several templates; a missing field drops only its template.
        Case(templates: ["v-${commit_info.short_sha}", "${parsed_ref.tag}", "b-${parsed_ref.branch}"], ref: "refs/heads/main",
             fromRef: false, latest: false, expected: ["v-b7f7d2b", "b-main"]),
        // Defaults: the branch name and latest on the default branch.
        Case(templates: [], ref: "refs/heads/master", fromRef: true, latest: true, expected: ["master", "latest"]),
        Case(templates: [], ref: "refs/heads/dev", fromRef: true, latest: true, expected: ["dev"]),
        Case(templates: [], ref: "refs/tags/v2", fromRef: true, latest: true, expected: ["v2"]),
        // A tag named like the default branch is not the default branch.
        Case(templates: [], ref: "refs/tags/master", fromRef: false, latest: true, expected: ["b7f7d2b"]),
        Case(templates: ["${commit_info.short_sha}"], ref: "refs/heads/master", fromRef: true, latest: true, expected: ["b7f7d2b", "master", "latest"]),
        // Nothing came out: the short SHA.
        Case(templates: [], ref: "refs/heads/dev", fromRef: false, latest: true, expected: ["b7f7d2b"]),
        Case(templates: ["${parsed_ref.tag}"], ref: "refs/heads/dev", fromRef: false, latest: false, expected: ["b7f7d2b"]),
        Case(templates: [], ref: nil, fromRef: true, latest: true, expected: ["b7f7d2b"]),
        // Escaping: leading punctuation, invalid characters, duplicates collapse.
        Case(templates: [".hidden-${parsed_ref.branch}", "a b!c", "${parsed_ref.branch}"], ref: "refs/heads/x", fromRef: true, latest: false,
             expected: ["_hidden-x", "a_b_c", "x"]),
    ]

    @Test(arguments: cases)
    func tags(_ c: Case) {
        let config = TriggerConfig(buildSource: "git@example.com:a/b.git", defaultTagFromRef: c.fromRef, latestForDefaultBranch: c.latest,
                                   tagTemplates: c.templates)
        #expect(TriggerTags.compute(config: config, metadata: Self.metadata(ref: c.ref)) == c.expected)
    }

    /// A manual run by ref reaches the tag rules with the commit resolved (`ManualRunRefs`), so
    /// the rules never fall back to the ref's name against `default_tag_from_ref: false`.
    @Test func aManualRunAndAWebhookForTheSameCommitGetTheSameTags() {
        let config = TriggerConfig(buildSource: "git@example.com:a/b.git", defaultTagFromRef: false, latestForDefaultBranch: false,
                                   tagTemplates: ["ssh-${commit_info.short_sha}"])
        let manual: [String: EventValue] = ["commit": .string(Self.sha), "ref": .string("refs/heads/master"), "default_branch": .string("master")]
        #expect(TriggerTags.compute(config: config, metadata: manual) == ["ssh-b7f7d2b"])
        #expect(TriggerTags.compute(config: config, metadata: Self.metadata()) == ["ssh-b7f7d2b"])
    }

    @Test(arguments: [
        ("v-${commit", "unclosed"), ("${}", "invalid field"), ("${a..b}", "invalid field"), ("${a b}", "invalid field"),
    ])
    func badTemplatesAreRefusedAtActivation(_ template: String, _ fragment: String) throws {
        let raw: [String: EventValue] = ["build_source": .string("https://git.example.com/a.git"), "tag_templates": .strings([template])]
        let error = #expect(throws: DomainError.self) { try TriggerConfigValidation.validate(raw) }
        #expect(error?.message.contains(fragment) == true, "\(error?.message ?? "")")
    }

    struct SkipCase: Sendable {
        let regex: String?
        let ref: String
        let message: String
        let skipped: Bool
    }

    @Test(arguments: [
        SkipCase(regex: nil, ref: "refs/heads/main", message: "fix", skipped: false),
        SkipCase(regex: nil, ref: "refs/heads/main", message: "docs only [skip build]", skipped: true),
        SkipCase(regex: nil, ref: "refs/heads/main", message: "[build skip]\n\nbody", skipped: true),
        SkipCase(regex: nil, ref: "refs/heads/main", message: "[skip ci] is not ours", skipped: false),
        SkipCase(regex: "heads/main", ref: "refs/heads/main", message: "x", skipped: false),
        SkipCase(regex: "heads/main", ref: "refs/heads/main2", message: "x", skipped: true),  // whole-string match
        SkipCase(regex: "heads/main", ref: "refs/heads/x/heads/main", message: "x", skipped: true),
        SkipCase(regex: "heads/.+", ref: "refs/tags/v1", message: "x", skipped: true),
        SkipCase(regex: "tags/v[0-9]+(\\.[0-9]+)*", ref: "refs/tags/v1.2", message: "x", skipped: false),
        SkipCase(regex: "heads/a|heads/ab", ref: "refs/heads/ab", message: "x", skipped: false),  // alternation: a longer branch still matches
        SkipCase(regex: ".*", ref: "refs/heads/anything", message: "x", skipped: false),
    ])
    func skipRules(_ c: SkipCase) {
        let config = TriggerConfig(buildSource: "x:y", branchtagRegex: c.regex)
        let reason = SkipRules.reason(config: config, metadata: Self.metadata(ref: c.ref, message: c.message))
        #expect((reason != nil) == c.skipped, "\(c.regex ?? "-") \(c.ref) \(c.message): \(reason ?? "builds")")
    }

    @Test(arguments: [
        ("https://github.com/acme/app.git", true), ("ssh://git@git.example.com:2222/srv/app.git", true), ("git://10.0.0.5/app.git", true),
        ("git@github.com:acme/app.git", true), ("http://127.0.0.1:8080/git/app.git", true),
        ("file:///srv/app.git", false), ("/srv/app.git", false), ("../app", false), ("ext::sh -c touch% /tmp/pwned", false),
        ("ext::ssh", false), ("fd::17", false), ("ftp://example.com/a.git", false), ("https:///nohost", false), ("-uhttps://x", false),
        ("https://example.com/a b.git", false), ("C:", false),
    ])
    func gitURLs(_ url: String, _ allowed: Bool) {
        let raw: [String: EventValue] = ["build_source": .string(url)]
        let ok = (try? TriggerConfigValidation.validate(raw)) != nil
        #expect(ok == allowed, "\(url)")
    }

    @Test(arguments: [
        ("main", true), ("feature/x-1", true), ("v1.2.3", true), ("a..b", false), ("a b", false), ("$(touch)", true),
        ("x;rm|y&z", true), ("~x", false), ("a:b", false), ("x.lock", false), ("/x", false), ("x/", false), (".hidden", false),
        ("a\u{7}b", false), ("-rf", false), ("@", false), ("a@{1}", false),
    ])
    func refNames(_ name: String, _ valid: Bool) {
        // Shell metacharacters that git allows stay valid names (they never reach a shell, and
        // tags made from them are escaped); what git refuses is refused.
        #expect(GitRefRules.isValidName(name) == valid, "\(name)")
    }

    @Test func failureCounters() {
        typealias C = TriggerLifecycle.Counters
        #expect(TriggerLifecycle.counters(finalPhasesNewestFirst: []) == C())
        #expect(TriggerLifecycle.counters(finalPhasesNewestFirst: ["error", "error", "complete", "error"]) == C(failures: 2, internalErrors: 0))
        #expect(TriggerLifecycle.counters(finalPhasesNewestFirst: ["internalerror", "internalerror", "error", "internalerror"])
                == C(failures: 1, internalErrors: 2))
        #expect(TriggerLifecycle.counters(finalPhasesNewestFirst: ["cancelled", "internalerror", "cancelled", "complete", "internalerror"])
                == C(failures: 0, internalErrors: 1))
    }
}
