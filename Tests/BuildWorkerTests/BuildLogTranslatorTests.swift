import BuildProtocol
@testable import BuildWorker
import Testing

struct BuildLogTranslatorTests {
    // Lines captured from buildah 1.28.2 (`buildah bud --isolation chroot`) in this sandbox, plus
    // Docker's classic builder format.
    static let table: [(line: String, type: String?, step: (Int, Int, String)?)] = [
        ("STEP 1/4: FROM localhost/busybox:latest", "command", (1, 4, "FROM localhost/busybox:latest")),
        ("STEP 2/4: LABEL quay.expires-after=2h", "command", (2, 4, "LABEL quay.expires-after=2h")),
        ("STEP 3/4: RUN echo hi && echo there >&2", "command", (3, 4, "RUN echo hi && echo there >&2")),
        ("STEP 3/4: RUN [\"/bin/busybox\",\"--install\",\"-s\",\"/bin\"]", "command", (3, 4, "RUN [\"/bin/busybox\",\"--install\",\"-s\",\"/bin\"]")),
        ("STEP 10/12: COPY busybox /bin/busybox", "command", (10, 12, "COPY busybox /bin/busybox")),
        ("Step 1/3 : FROM busybox", "command", (1, 3, "FROM busybox")),
        ("Step 3/3 : CMD [\"/bin/sh\"]", "command", (3, 3, "CMD [\"/bin/sh\"]")),
        ("Error: building at STEP \"RUN false\": exit status 1", "error", nil),
        ("Error: building at STEP \"FOOBAR \": Build error: Unknown instruction: \"FOOBAR\" &imagebuilder.Step{}", "error", nil),
        ("Error: creating build container: initializing source docker://127.0.0.1:1/nope:latest: pinging container registry 127.0.0.1:1: Get \"http://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused", "error", nil),
        ("error building at STEP \"RUN make\": exit status 2", "error", nil),
        ("hi", nil, nil),
        ("there", nil, nil),
        ("subprocess exited with status 1", nil, nil),
        ("COMMIT localhost/busybox:latest", nil, nil),
        ("Getting image source signatures", nil, nil),
        ("Copying blob sha256:13d3881df24e5ab6682338dceace1595679fdd7cdbc93b337b103d34b6c4da4c", nil, nil),
        ("--> 2a1a33c48cb", nil, nil),
        ("Successfully tagged localhost/busybox:latest", nil, nil),
        ("time=\"2026-11-29T10:45:36Z\" level=warning msg=\"Failed, retrying in 2s ... (1/3).\"", nil, nil),
        // Look-alikes that are not steps.
        ("STEP x/4: RUN", nil, nil),
        ("STEP 5/4: RUN true", nil, nil),
        ("STEP 1/4 RUN true", nil, nil),
        ("the STEP 1/4: FROM inside a line", nil, nil),
        ("Errors: none", nil, nil),
    ]

    @Test(arguments: 0..<table.count)
    func classifies(row: Int) {
        let (line, type, step) = Self.table[row]
        let entry = BuildLogTranslator.entry(for: line)
        #expect(entry.message == line)
        #expect(entry.type == type, "\(line)")
        if let (index, count, instruction) = step {
            #expect(BuildLogTranslator.classify(line) == .step(index: index, count: count, instruction: instruction))
            #expect(entry.data == ["step": String(index), "steps": String(count), "command": instruction])
        } else {
            #expect(entry.data == nil)
        }
    }

    @Test func errorMessageDropsThePrefix() {
        #expect(BuildLogTranslator.classify("Error: building at STEP \"RUN false\": exit status 1")
                == .error(message: "building at STEP \"RUN false\": exit status 1"))
    }
}
