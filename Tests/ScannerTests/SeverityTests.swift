// Severity normalisation: every row of the guide's "Clair severity mapping" tables, and CVSS base
// scores computed from vectors (expected scores from the `cvss` package on PyPI, which
// implements the specifications' formulas).

import Scanner
import Testing

@Suite("Severity normalisation")
struct SeverityTests {
    @Test func mapsEachSourceByTheGuidesTable() {
        let rows: [(SeveritySource, String, Severity)] = [
            (.alpine, "anything", .unknown), (.alpine, "high", .unknown),
            (.aws, "low", .low), (.aws, "medium", .medium), (.aws, "important", .high), (.aws, "critical", .critical),
            (.aws, "whatever", .unknown),
            (.debian, "not yet assigned", .unknown), (.debian, "unimportant", .low), (.debian, "low", .medium),
            (.debian, "medium", .high), (.debian, "high", .critical), (.debian, "low**", .medium), (.debian, "end-of-life", .unknown),
            (.oracle, "N/A", .unknown), (.oracle, "LOW", .low), (.oracle, "MODERATE", .medium), (.oracle, "IMPORTANT", .high),
            (.oracle, "CRITICAL", .critical),
            (.rhel, "None", .unknown), (.rhel, "Low", .low), (.rhel, "Moderate", .medium), (.rhel, "Important", .high),
            (.rhel, "Critical", .critical),
            (.suse, "None", .unknown), (.suse, "Low", .low), (.suse, "Moderate", .medium), (.suse, "Important", .high),
            (.suse, "Critical", .critical),
            (.ubuntu, "Untriaged", .unknown), (.ubuntu, "Negligible", .negligible), (.ubuntu, "Low", .low),
            (.ubuntu, "Medium", .medium), (.ubuntu, "High", .high), (.ubuntu, "Critical", .critical),
            (.ghsa, "LOW", .low), (.ghsa, "MODERATE", .medium), (.ghsa, "HIGH", .high), (.ghsa, "CRITICAL", .critical),
        ]
        for (source, value, expected) in rows {
            #expect(SeverityMapping.severity(value, from: source) == expected, "\(source) \(value)")
        }
    }

    @Test func mapsCVSSScoresByTheOSVTables() {
        let v3: [(Double, Severity)] = [(0, .negligible), (0.1, .low), (3.9, .low), (4.0, .medium), (6.9, .medium),
                                        (7.0, .high), (8.9, .high), (9.0, .critical), (10, .critical), (10.5, .unknown)]
        for (score, expected) in v3 { #expect(SeverityMapping.severity(cvss3: score) == expected, "v3 \(score)") }
        let v2: [(Double, Severity)] = [(0, .low), (3.9, .low), (4.0, .medium), (6.9, .medium), (7.0, .high), (10, .high)]
        for (score, expected) in v2 { #expect(SeverityMapping.severity(cvss2: score) == expected, "v2 \(score)") }
    }

    @Test func computesBaseScoresFromVectors() {
        let v3: [(String, Double)] = [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9),
            ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0.0),
            ("CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.8),
            ("CVSS:3.1/AV:A/AC:H/PR:L/UI:R/S:C/C:L/I:L/A:L", 5.1),
            ("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:C/C:H/I:H/A:H", 9.1),
            // Temporal metrics do not change the base score.
            ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N/E:P/RL:O", 4.3),
        ]
        for (vector, score) in v3 { #expect(CVSS.baseScoreV3(vector) == score, "\(vector)") }
        let v2: [(String, Double)] = [
            ("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5), ("AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3), ("(AV:L/AC:L/Au:N/C:C/I:C/A:C)", 7.2),
            ("AV:N/AC:L/Au:N/C:N/I:N/A:N", 0.0), ("AV:N/AC:H/Au:S/C:P/I:N/A:N", 2.1),
        ]
        for (vector, score) in v2 { #expect(CVSS.baseScoreV2(vector) == score, "\(vector)") }
    }

    @Test func refusesIncompleteOrAmbiguousVectors() {
        for bad in ["", "CVSS:3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    "CVSS:2.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:3.1/AV:N/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"] {
            #expect(CVSS.baseScoreV3(bad) == nil, "\(bad)")
        }
        #expect(CVSS.baseScoreV2("AV:N/AC:L/Au:N/C:P/I:P") == nil)
    }

    @Test func severitiesAreOrdered() {
        #expect(Severity.allCases.sorted() == [.unknown, .negligible, .low, .medium, .high, .critical])
        #expect(Severity(name: "HIGH") == .high && Severity(name: "severe") == nil)
    }
}
