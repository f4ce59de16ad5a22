import Testing

import Registry

/// The worker-token check itself: only `Bearer <the token>` passes, compared in constant time.
@Suite("Worker token check")
struct WorkerTokenTests {
    let token = "slw_" + String(repeating: "Q", count: 40)

    @Test func theTokenPasses() {
        #expect(WorkerToken.authorizes("Bearer \(token)", workerToken: token))
    }

    @Test func aWrongTokenOfTheSameLengthIsRefused() {
        for wrong in [String(token.dropLast()) + "R", "R" + token.dropFirst(), String(repeating: "x", count: token.count)] {
            #expect(wrong.count == token.count)
            #expect(!WorkerToken.authorizes("Bearer \(wrong)", workerToken: token), "\(wrong)")
        }
    }

    @Test func aTokenOfAnotherLengthIsRefused() {
        for wrong in [String(token.dropLast()), token + "Q", "", "slw_"] {
            #expect(!WorkerToken.authorizes("Bearer \(wrong)", workerToken: token), "\(wrong)")
        }
    }

    @Test func otherHeadersAreRefused() {
        #expect(!WorkerToken.authorizes(nil, workerToken: token))
        #expect(!WorkerToken.authorizes(token, workerToken: token), "no scheme")
        #expect(!WorkerToken.authorizes("Basic \(token)", workerToken: token))
        #expect(!WorkerToken.authorizes("Bearer ", workerToken: ""), "an empty configured token admits nobody")
    }
}
