/// The `quay.expires-after` label: `<n><s|m|h|d|w>` → seconds. Invalid values are ignored (nil),
/// as in Quay.
public enum ExpiresAfter {
    public static let labelKey = "quay.expires-after"

    public static func seconds(_ value: String) -> Int64? {
        let text = value.trimmingCharacters(in: .whitespaces)
        guard let unit = text.last, let n = Int64(text.dropLast()), n > 0 else { return nil }
        let factor: Int64
        switch unit {
        case "s": factor = 1
        case "m": factor = 60
        case "h": factor = 3600
        case "d": factor = 86_400
        case "w": factor = 604_800
        default: return nil
        }
        let (product, overflow) = n.multipliedReportingOverflow(by: factor)
        return overflow || product > 100 * 365 * 86_400 ? nil : product
    }
}

import Foundation
