@testable import BuildWorker
import Testing

/// Which Dockerfiles the worker pins to digests itself (the rest take buildah's --pull-always).
/// The registry side (the HEAD with the build's credentials, a revoked robot taking the slow way)
/// runs for real in Tests/e2e/test_base_image_cache.py.
struct BaseImagePinTests {
    let registry = "127.0.0.1:5000"

    @Test func basesOfThisRegistryByTagArePlannedStagesScratchAndDigestsStay() throws {
        let text = """
            # syntax is fine
            FROM 127.0.0.1:5000/acme/base:1.2 AS build
            RUN make
            from --platform=linux/amd64 127.0.0.1:5000/acme/runtime
            COPY --from=build /out /out
            FROM build
            FROM scratch
            FROM 127.0.0.1:5000/acme/pinned@sha256:0123456789012345678901234567890123456789012345678901234567890123
            """
        let plan = try #require(BaseImagePin.plan(dockerfile: text, registry: registry))
        #expect(plan.bases == [1: .init(repository: "acme/base", tag: "1.2"), 3: .init(repository: "acme/runtime", tag: "latest")])
    }

    @Test(arguments: [
        "FROM docker.io/library/alpine:3.19",           // another registry: buildah pulls it
        "ARG BASE=x\nFROM ${BASE}",                      // a variable
        "FROM --platform=$BUILDPLATFORM 127.0.0.1:5000/acme/base",
        "FROM \\\n  127.0.0.1:5000/acme/base",           // a continued line
        "FROM 127.0.0.1:50001/acme/base",                // a registry that only starts like this one
    ])
    func anythingElseTakesTheSlowWay(_ text: String) {
        #expect(BaseImagePin.plan(dockerfile: text, registry: registry) == nil)
    }
}
