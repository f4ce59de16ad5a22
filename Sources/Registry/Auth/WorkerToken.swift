import Foundation
import Hummingbird
import NIOCore

/// The shared worker token (`builds.workerToken`) that `slipway worker` processes present on
/// every worker-protocol call, builds and scans alike, and the protocol's error answers.
public enum WorkerToken {
    /// Whether an `Authorization` header carries the worker token, compared in constant time.
    /// An empty configured token admits nobody.
    public static func authorizes(_ authorization: String?, workerToken: String) -> Bool {
        guard !workerToken.isEmpty, let authorization, authorization.hasPrefix("Bearer ") else { return false }
        return ConstantTime.equal(String(authorization.dropFirst("Bearer ".count)), workerToken)
    }

    /// A worker-protocol call refused: answered with `status` and `{"error": message}`.
    public struct Failure: Error {
        public let status: HTTPResponse.Status
        public let message: String
        public init(status: HTTPResponse.Status, message: String) {
            self.status = status
            self.message = message
        }
    }

    /// Runs a worker-protocol handler: 401 without the worker token, a thrown `Failure` as its
    /// status and JSON message.
    public static func guarded(_ request: Request, workerToken: String, _ body: () async throws -> Response) async throws -> Response {
        do {
            guard authorizes(request.headers[.authorization], workerToken: workerToken) else {
                throw Failure(status: .unauthorized, message: "a valid worker token is required")
            }
            return try await body()
        } catch let f as Failure {
            return Response(status: f.status, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: "{\"error\":\(String(reflecting: f.message))}")))
        }
    }
}
