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

