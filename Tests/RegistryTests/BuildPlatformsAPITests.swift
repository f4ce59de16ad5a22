import BuildOrchestrator
import BuildProtocol
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Registry
import SlipwayTestSupport
import Testing

/// `platforms` (#18) through the builds API and the worker protocol: validated at request time,
/// stored and shown, leased only to a worker that reports every platform (the build says why it
/// waits meanwhile), and handed to that worker in its build pack.
@Suite("Build platforms API")
struct BuildPlatformsAPITests {
    @Test(arguments: TestBackend.available)
    func aMultiPlatformBuildWaitsForAWorkerThatRunsAllItsPlatforms(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, c in
            let api = try await BuildsAPITests.apiToken(registry)
            #expect(try await c.send(.post, "/api/v1/repository", token: api, headers: BuildsAPITests.json,
                                     body: ByteBuffer(string: #"{"repository":"app","visibility":"private","description":""}"#)).status == .created)
            let fileID = try await BuildsAPITests.upload(c, api, Array("FROM scratch\n".utf8))
            for (platforms, words) in [(#"["linux/m68k"]"#, "not a known platform"), (#"["linux/arm64","linux/arm64"]"#, "listed twice"),
                                       (#""linux/arm64""#, "must be of type Array")] {
                let refused = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: BuildsAPITests.json,
                                               body: ByteBuffer(string: #"{"file_id":"\#(fileID)","platforms":\#(platforms)}"#))
                #expect(refused.status == .badRequest, "\(platforms)")
                #expect((refused.json as? [String: Any])?["error_type"] as? String == "invalid_request")
                #expect(String(buffer: refused.body).contains(words))
            }
            let start = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: BuildsAPITests.json,
                                         body: ByteBuffer(string: #"{"file_id":"\#(fileID)","platforms":["linux/amd64","linux/arm64"]}"#))
            #expect(start.status == .created, "\(String(buffer: start.body))")
            let view = try #require(start.json as? [String: Any])
            let buildID = try #require(view["id"] as? String)
            #expect(view["platforms"] as? [String] == ["linux/amd64", "linux/arm64"])
            #expect((view["waiting_reason"] as? String)?.contains("no connected worker can build linux/amd64, linux/arm64") == true)

            // A worker without arm64 gets nothing; the build now names the platform it lacks.
            var amd64 = BuildsAPITests.Worker(c: c, token: registry.buildFarm.workerToken)
            amd64.id = "amd64-only"
            let nothing = try await amd64.call(WorkerProtocol.leasePath, LeaseRequest(workerID: amd64.id, platforms: ["linux/amd64"]))
            #expect(nothing.status == .noContent)
            let waiting = try #require(try await c.send(.get, "/api/v1/repository/admin/app/build/\(buildID)", token: api).json as? [String: Any])
            #expect(waiting["phase"] as? String == "waiting")
            #expect((waiting["waiting_reason"] as? String)?.contains("no connected worker can build linux/arm64:") == true)
            #expect((waiting["waiting_reason"] as? String)?.contains("qemu-user-static") == true)

            // One that emulates arm64 takes it, with the platforms in its pack.
            let emulating = try await amd64.call(WorkerProtocol.leasePath,
                                                 LeaseRequest(workerID: "emulating", platforms: ["linux/amd64", "linux/arm64", "linux/arm/v7"]))
            #expect(emulating.status == .ok)
            let pack = try JSONDecoder().decode(BuildPack.self, from: Data(buffer: emulating.body))
            #expect(pack.buildID == buildID && pack.platforms == ["linux/amd64", "linux/arm64"])
            let leased = try #require(try await c.send(.get, "/api/v1/repository/admin/app/build/\(buildID)", token: api).json as? [String: Any])
            #expect(leased["waiting_reason"] is NSNull, "a leased build waits for nothing")
            #expect(leased["platform_phases"] as? [String: String] == ["linux/amd64": "waiting", "linux/arm64": "waiting"])

            // Each platform's phase updates show in the view; the failing platform ends `error`.
            for (platform, phase) in [("linux/amd64", BuildPhase.building), ("linux/arm64", .pulling), ("linux/m68k", .building)] {
                let sent = try await amd64.call(WorkerProtocol.buildPath(buildID, "phase"), lease: pack.leaseID,
                                                PhaseUpdate(phase: phase, data: ["platform": platform]))
                #expect(sent.status == .noContent)
            }
            let running = try #require(try await c.send(.get, "/api/v1/repository/admin/app/build/\(buildID)", token: api).json as? [String: Any])
            #expect(running["phase"] as? String == "building")
            #expect(running["platform_phases"] as? [String: String] == ["linux/amd64": "building", "linux/arm64": "pulling"])
            let failed = try await amd64.call(WorkerProtocol.buildPath(buildID, "complete"), lease: pack.leaseID,
                                              Completion(outcome: .error, message: "[linux/arm64] error building at STEP 2/2"))
            #expect(failed.status == .noContent)
            let final = try #require(try await c.send(.get, "/api/v1/repository/admin/app/build/\(buildID)", token: api).json as? [String: Any])
            #expect(final["platform_phases"] as? [String: String] == ["linux/amd64": "building", "linux/arm64": "error"])
        }
    }

    @Test(arguments: TestBackend.available)
    func aBuildWithoutPlatformsKeepsItsPack(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, c in
            let api = try await BuildsAPITests.apiToken(registry)
            #expect(try await c.send(.post, "/api/v1/repository", token: api, headers: BuildsAPITests.json,
                                     body: ByteBuffer(string: #"{"repository":"app","visibility":"private","description":""}"#)).status == .created)
            let fileID = try await BuildsAPITests.upload(c, api, Array("FROM scratch\n".utf8))
            let start = try await c.send(.post, "/api/v1/repository/admin/app/build/", token: api, headers: BuildsAPITests.json,
                                         body: ByteBuffer(string: #"{"file_id":"\#(fileID)"}"#))
            let view = try #require(start.json as? [String: Any])
            #expect(view["platforms"] as? [String] == [] && view["waiting_reason"] is NSNull)
            // A worker that reports no platforms (an older one) still gets single-platform builds.
            let pack = try #require(try await BuildsAPITests.Worker(c: c, token: registry.buildFarm.workerToken).lease())
            #expect(pack.platforms == nil)
        }
    }
}
