// Package names as both sides of a match must spell them. Python's are case-insensitive and
// treat runs of `-`, `_` and `.` alike (PEP 503); every other ecosystem's are compared as written.

public enum PackageName {
    public static func normalised(_ name: String, in namespace: PackageNamespace) -> String {
        guard namespace.format == .pep440 else { return name }
        var result = ""
        var lastWasSeparator = false
        for c in name.lowercased() {
            if c == "-" || c == "_" || c == "." {
                if !lastWasSeparator { result.append("-") }
                lastWasSeparator = true
            } else {
                result.append(c)
                lastWasSeparator = false
            }
        }
        return result
    }
}
