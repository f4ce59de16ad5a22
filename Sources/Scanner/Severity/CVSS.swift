// CVSS base scores from vector strings, the form OSV gives severities in
// (`"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/..."}]`). The formulas are the
// specifications' (CVSS v3.1 section 7.1 with its Roundup; v3.0 vectors use the same base
// equations; CVSS v2 section 3.2.1). A vector missing a base metric or with an unknown value
// is not a score.

import Foundation

public enum CVSS {
    /// The base score of a `CVSS:3.0/...` or `CVSS:3.1/...` vector.
    public static func baseScoreV3(_ vector: String) -> Double? {
        let parts = vector.split(separator: "/")
        guard let prefix = parts.first, prefix == "CVSS:3.0" || prefix == "CVSS:3.1",
              let m = metrics(parts.dropFirst()) else { return nil }
        guard let scope = m["S"], scope == "U" || scope == "C",
              let av = ["N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2][m["AV"] ?? ""],
              let ac = ["L": 0.77, "H": 0.44][m["AC"] ?? ""],
              let pr = (scope == "C" ? ["N": 0.85, "L": 0.68, "H": 0.5] : ["N": 0.85, "L": 0.62, "H": 0.27])[m["PR"] ?? ""],
              let ui = ["N": 0.85, "R": 0.62][m["UI"] ?? ""],
              let c = impactWeight(m["C"]), let i = impactWeight(m["I"]), let a = impactWeight(m["A"]) else { return nil }
        let iss = 1 - (1 - c) * (1 - i) * (1 - a)
        let impact = scope == "U" ? 6.42 * iss : 7.52 * (iss - 0.029) - 3.25 * pow(iss - 0.02, 15)
        let exploitability = 8.22 * av * ac * pr * ui
        if impact <= 0 { return 0 }
        return scope == "U" ? roundUp(min(impact + exploitability, 10)) : roundUp(min(1.08 * (impact + exploitability), 10))
    }

    /// The base score of a CVSS v2 vector (`AV:N/AC:L/Au:N/C:P/I:P/A:P`, optionally in parentheses).
    public static func baseScoreV2(_ vector: String) -> Double? {
        let trimmed = vector.trimmingCharacters(in: CharacterSet(charactersIn: "()"))
        guard let m = metrics(trimmed.split(separator: "/")[...]),
              let av = ["L": 0.395, "A": 0.646, "N": 1.0][m["AV"] ?? ""],
              let ac = ["H": 0.35, "M": 0.61, "L": 0.71][m["AC"] ?? ""],
              let au = ["M": 0.45, "S": 0.56, "N": 0.704][m["Au"] ?? ""] else { return nil }
        let weights = ["N": 0.0, "P": 0.275, "C": 0.660]
        guard let c = weights[m["C"] ?? ""], let i = weights[m["I"] ?? ""], let a = weights[m["A"] ?? ""] else { return nil }
        let impact = 10.41 * (1 - (1 - c) * (1 - i) * (1 - a))
        let exploitability = 20 * av * ac * au
        let f = impact == 0 ? 0 : 1.176
        return ((0.6 * impact + 0.4 * exploitability - 1.5) * f * 10).rounded() / 10
    }

    private static func metrics(_ parts: ArraySlice<Substring>) -> [String: String]? {
        var result: [String: String] = [:]
        for part in parts {
            let pair = part.split(separator: ":", maxSplits: 1)
            guard pair.count == 2 else { return nil }
            // A metric given twice makes the vector ambiguous (the specification forbids it).
            guard result.updateValue(String(pair[1]), forKey: String(pair[0])) == nil else { return nil }
        }
        return result
    }

    private static func impactWeight(_ value: String?) -> Double? {
        ["H": 0.56, "L": 0.22, "N": 0.0][value ?? ""]
    }

    /// CVSS v3.1's Roundup: the smallest one-decimal number not below the input, computed on
    /// integers so that 4.000000001 does not become 4.1 through floating-point noise.
    static func roundUp(_ value: Double) -> Double {
        let scaled = Int((value * 100_000).rounded())
        if scaled % 10_000 == 0 { return Double(scaled) / 100_000 }
        return Double(scaled / 10_000 + 1) / 10
    }
}
