import BuildOrchestrator
import BuildProtocol
import Foundation
import HTTPTypes
import NIOCore
import Registry
import SlipwayTestSupport
import Testing

/// Secrets compare in constant time (`ConstantTime.equal`), and the worker protocol refuses any
/// token but its own, whatever its length (issue #16).
@Suite("Constant-time secret comparison")
struct ConstantTimeTests {
    @Test func equalAndUnequalStrings() {
        let secret = "slw_" + String(repeating: "k", count: 40)
        #expect(ConstantTime.equal(secret, secret))
        #expect(!ConstantTime.equal(secret, String(secret.dropLast()) + "j"), "same length, last byte differs")
        #expect(!ConstantTime.equal(secret, "j" + secret.dropFirst()), "same length, first byte differs")
        #expect(!ConstantTime.equal(secret, String(secret.dropLast())), "a prefix")
        #expect(!ConstantTime.equal(secret, secret + "k"), "longer")
        #expect(!ConstantTime.equal(secret, ""))
        #expect(ConstantTime.equal("", ""))
    }

    @Test(arguments: TestBackend.available)
    func workerTokenOfTheSameOrAnotherLengthIsRefused(backend: TestBackend) async throws {
        try await TestRegistry.with(backend, configure: { $0.builds.inProcessWorkers = 0 }) { registry, c in
            let token = registry.buildFarm.workerToken
            let sameLength = String(token.dropLast()) + (token.hasSuffix("x") ? "y" : "x")
            #expect(sameLength.count == token.count && sameLength != token)
            for (header, what) in [("Bearer \(sameLength)", "same length"), ("Bearer \(token.dropLast())", "shorter"),
                                   ("Bearer \(token)x", "longer"), ("Bearer ", "empty"), ("Basic \(token)", "another scheme"),
                                   ("bearer\(token)", "no separator")] {
                let r = try await c.client.executeRequest(uri: WorkerProtocol.leasePath, method: .post,
                                                          headers: [.authorization: header, .contentType: "application/json"],
                                                          body: ByteBuffer(bytes: try JSONEncoder().encode(LeaseRequest(workerID: "w"))))
                #expect(r.status == .unauthorized, "\(what): \(r.status)")
            }
            let none = try await c.client.executeRequest(uri: WorkerProtocol.leasePath, method: .post, headers: [.contentType: "application/json"],
                                                         body: ByteBuffer(bytes: try JSONEncoder().encode(LeaseRequest(workerID: "w"))))
            #expect(none.status == .unauthorized, "no Authorization header")
            // The right token gets through (no build queued: the long-poll ends with 204).
            let right = try await c.client.executeRequest(uri: WorkerProtocol.leasePath, method: .post,
                                                          headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                                                          body: ByteBuffer(bytes: try JSONEncoder().encode(LeaseRequest(workerID: "w"))))
            #expect(right.status == .noContent)
        }
    }
}
