import Hummingbird
import Logging
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

/// How one route's requests are counted and logged: the low-cardinality name that goes into the
/// `route` label of the request metrics and the `http.route` of the log line, and the level of
/// that per-request line. Modules name their plain routes this way (`SlipwayModule.observedRoutes`);
/// a route nobody names is `other`, logged at `info`.
public struct ObservedRoute: Sendable, Equatable {
    /// The path exactly as registered with the router, e.g. `/buildman/v1/builds/:id/heartbeat`.
    public let path: String
    public let name: String
    public let logLevel: Logger.Level

    public init(path: String, name: String, logLevel: Logger.Level = .info) {
        self.path = path
        self.name = name
        self.logLevel = logLevel
    }
}

/// Counts requests and records their latency by route label, method and status, and logs one
/// structured line per request with its request id.
public struct RequestObservationMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Named routes by the router's own rendering of their path (what `context.endpointPath` holds).
    private let named: [String: ObservedRoute]

    public init(routes: [ObservedRoute] = []) {
        var named: [String: ObservedRoute] = [:]
        for route in routes { named[RouterPath(route.path).description] = route }
        self.named = named
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let route = observation(request, context)
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

    /// The route's name and log level. The router has matched the route before this middleware
    /// runs (it wraps each route's responder), so `endpointPath` names the registered path.
    func observation(_ request: Request, _ context: Context) -> ObservedRoute {
        if let path = context.endpointPath, let route = named[path] { return route }
        return ObservedRoute(path: request.uri.path, name: Self.routeLabel(request))
    }

    private func record(_ request: Request, _ context: Context, route: ObservedRoute, status: Int, start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let dims = [("route", route.name), ("method", request.method.rawValue), ("status", String(status))]
        Counter(label: "slipway_http_requests_total", dimensions: dims).increment()
        Metrics.Timer(label: "slipway_http_request_duration_seconds", dimensions: [("route", route.name), ("method", request.method.rawValue)],
                      preferredDisplayUnit: .seconds).recordNanoseconds(elapsed.nanoseconds)
        // A quiet route's failures still reach the default level: a worker with a wrong token
        // or a lost lease is something an operator wants to see.
        let level = status >= 400 ? max(route.logLevel, .info) : route.logLevel
        context.logger.log(level: level, "request", metadata: [
            "http.method": "\(request.method.rawValue)", "http.route": "\(route.name)", "http.status": "\(status)",
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
