/// The shared worker token (`builds.workerToken`) that `slipway worker` processes present on
/// every worker-protocol call, builds and scans alike.
public enum WorkerToken {
    /// Whether an `Authorization` header carries the worker token, compared in constant time.
    /// An empty configured token admits nobody.
    public static func authorizes(_ authorization: String?, workerToken: String) -> Bool {
        guard !workerToken.isEmpty, let authorization, authorization.hasPrefix("Bearer ") else { return false }
        return ConstantTime.equal(String(authorization.dropFirst("Bearer ".count)), workerToken)
    }
}
