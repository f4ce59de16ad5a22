import Hummingbird
import Metrics
import NIOCore
import Prometheus

/// Process-wide metrics: swift-metrics bootstrapped once with a Prometheus registry that
/// `GET /metrics` renders.
public enum Observability {
    public static let prometheus = PrometheusCollectorRegistry()

    private static let bootstrapped: Bool = {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: prometheus))
        return true
    }()

    /// Idempotent; every application and test calls it.
    public static func bootstrap() {
        _ = bootstrapped
    }

    public static func render() -> ByteBuffer {
        ByteBuffer(bytes: prometheus.emitToBuffer())
    }
}

/// Registry-specific counters.
public struct RegistryMetrics: Sendable {
    public let bytesPushed = Counter(label: "slipway_registry_bytes_pushed_total")
    public let bytesPulled = Counter(label: "slipway_registry_bytes_pulled_total")
    public let uploadsInProgress = Gauge(label: "slipway_registry_uploads_in_progress")
    public let blobsCommitted = Counter(label: "slipway_registry_blobs_committed_total")
    public let manifestsPushed = Counter(label: "slipway_registry_manifests_pushed_total")

    public init() {}
}

/// Counts requests and records their latency by route label, method and status, and logs one
/// structured line per request with its request id.
public struct RequestObservationMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let route = Self.routeLabel(request)
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError {
            record(request, context, route: route, status: Int(error.status.code), start: start)
            throw error
        } catch {
            record(request, context, route: route, status: 500, start: start)
            throw error
        }
        if let id = context.logger[metadataKey: "hb.request.id"] {
            response.headers[.requestID] = "\(id)"
        }
        record(request, context, route: route, status: Int(response.status.code), start: start)
        return response
    }

    private func record(_ request: Request, _ context: Context, route: String, status: Int, start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let dims = [("route", route), ("method", request.method.rawValue), ("status", String(status))]
        Counter(label: "slipway_http_requests_total", dimensions: dims).increment()
        Metrics.Timer(label: "slipway_http_request_duration_seconds", dimensions: [("route", route), ("method", request.method.rawValue)],
                      preferredDisplayUnit: .seconds).recordNanoseconds(elapsed.nanoseconds)
        context.logger.info("request", metadata: [
            "http.method": "\(request.method.rawValue)", "http.route": "\(route)", "http.status": "\(status)",
            "http.duration_ms": "\(elapsed.nanoseconds / 1_000_000)",
        ])
    }

    static func routeLabel(_ request: Request) -> String {
        let path = request.uri.path
        if path.hasPrefix("/v2") {
            return "v2_" + ((try? V2Route.parse(rawPath: path))??.label ?? "unknown")
        }
        if path.hasPrefix("/api/") { return "api" }
        if path == "/metrics" || path.hasPrefix("/health") { return String(path.dropFirst()) }
        return "other"
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}
