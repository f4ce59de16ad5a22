import Hummingbird
import NIOCore

/// The answer when a namespace already has `builds.maxQueuedPerNamespace` builds waiting:
/// Quay's 429 with its message, written once for every way a build is started (the builds
/// API, a manual trigger run, a webhook).
public enum BuildQueueFull {
    public static let message = "Maximum queued build rate exceeded."

    /// `retryAfterSeconds` tells automated senders (webhooks) when to try again.
    public static func response(retryAfterSeconds: Int? = nil) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        return Response(status: .tooManyRequests, headers: headers,
                        body: .init(byteBuffer: ByteBuffer(string: #"{"message":"\#(message)"}"#)))
    }
}
