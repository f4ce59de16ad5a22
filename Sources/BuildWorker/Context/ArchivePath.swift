// The pure path rules of build-context extraction: how an archive entry name becomes a path inside
// the context, and which link targets may exist there. No file-system access happens here, so
// every rule is table-tested on its own.

/// A normalised, relative path inside the build context: no empty, `.` or `..` components.
/// The empty path is the context root.
struct ArchivePath: Hashable, Sendable, CustomStringConvertible {
    let components: [String]

    init(components: [String]) {
        self.components = components
    }

    var isRoot: Bool { components.isEmpty }
    var name: String? { components.last }
    var parentComponents: ArraySlice<String> { components.dropLast() }
    var description: String { components.isEmpty ? "." : components.joined(separator: "/") }

    /// Why an entry name or a link target is refused. Turned into a `BuildContextError` by the
    /// caller, which knows the entry.
    enum Violation: Error, Equatable, Sendable {
        case empty
        case absolute
        case parentComponent
        case tooLong(limit: Int)
    }

    /// Normalises an archive member name. Absolute names and any `..` component are refused
    /// outright rather than "sanitised": an archive that contains them was built to attack us
    /// or by a broken tool, and either way the build should say so.
    static func normalising(_ raw: String, maxLength: Int) -> Result<ArchivePath, Violation> {
        if raw.utf8.count > maxLength { return .failure(.tooLong(limit: maxLength)) }
        if raw.isEmpty { return .failure(.empty) }
        if raw.hasPrefix("/") { return .failure(.absolute) }
        var components: [String] = []
        for component in raw.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..": return .failure(.parentComponent)
            default: components.append(String(component))
            }
        }
        return .success(ArchivePath(components: components))
    }

    /// Normalises a configured Dockerfile path such as Quay's `/sub/Dockerfile`: the leading `/`
    /// means "the root of the upload", never the host's root.
    static func dockerfile(_ raw: String) -> ArchivePath? {
        var trimmed = Substring(raw)
        while trimmed.hasPrefix("/") { trimmed = trimmed.dropFirst() }
        guard case .success(let path) = normalising(String(trimmed), maxLength: 4096), !path.isRoot else {
            return nil
        }
        return path
    }
}

/// The verdict on a symbolic link target.
enum SymlinkTargetVerdict: Equatable, Sendable {
    case allowed
    case empty
    case absolute
    /// More leading `..` than the link has parent directories.
    case escapes
    /// A `..` after a normal component (`a/../b`): `a` may itself be a link, possibly one that a
    /// later entry creates, so where such a target lands cannot be decided from the text.
    case parentAfterName
}

extension ArchivePath {
    /// Decides whether a symbolic link at `self` may point at `target`.
    ///
    /// Lexical resolution alone is not enough: with `d/x -> ..`, the target `x/../..` of a link in
    /// `d` resolves lexically to the context root but physically to its parent. The rule that closes
    /// this is: only *leading* `..` components, no more of them than the link has parent
    /// directories. Those climb real directories (the extractor never creates anything through a
    /// link, so every parent of every entry is a real directory), and the remaining components only
    /// descend, through real directories or through links that obeyed the same rule. By induction
    /// every link in the context resolves inside it.
    func symlinkVerdict(target: String) -> SymlinkTargetVerdict {
        if target.isEmpty { return .empty }
        if target.hasPrefix("/") { return .absolute }
        var leadingParents = 0
        var seenName = false
        for component in target.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..":
                if seenName { return .parentAfterName }
                leadingParents += 1
            default:
                seenName = true
            }
        }
        return leadingParents <= parentComponents.count ? .allowed : .escapes
    }
}
