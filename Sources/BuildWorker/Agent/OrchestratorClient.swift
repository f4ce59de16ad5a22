import BuildProtocol
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
import Synchronization
#endif

/// The worker's side of the worker protocol: JSON over HTTP with the worker token.
public struct OrchestratorClient: Sendable {
    public let baseURL: URL
    let token: String
    let workerID: String
    /// What this worker can build (`WorkerPlatforms.all`), sent with every lease request.
    let platforms: [String]?

    public struct ProtocolError: Error, CustomStringConvertible {
        public let status: Int
        public let description: String
    }

    public init(baseURL: URL, token: String, workerID: String, platforms: [String]? = nil) {
        self.baseURL = baseURL
        self.token = token
        self.workerID = workerID
        self.platforms = platforms
    }

    func post<T: Encodable>(_ path: String, _ body: T, lease: String? = nil, timeout: TimeInterval = 30) async throws -> (Int, Data) {
        try await post(url: baseURL.appendingPathComponent(path), body, lease: lease, timeout: timeout)
    }

    func post<T: Encodable>(url: URL, _ body: T, lease: String? = nil, timeout: TimeInterval = 30) async throws -> (Int, Data) {
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue(workerID, forHTTPHeaderField: "X-Slipway-Worker")
        if let lease { request.setValue(lease, forHTTPHeaderField: WorkerProtocol.leaseHeader) }
        request.httpBody = try JSONEncoder().encode(body)
        return try await Self.send(request)
    }

    /// `URLSession.data(for:)` does not react to task cancellation on Linux; a data task with a
    /// cancellation handler does, so a worker shutting down never waits out a long-poll.
    static func send(_ request: URLRequest) async throws -> (Int, Data) {
        let holder = TaskHolder()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(Int, Data), any Error>) in
                let task = URLSession.shared.dataTask(with: request) { data, response, error in
                    if let error {
                        continuation.resume(throwing: (error as? URLError)?.code == .cancelled ? CancellationError() : error)
                        return
                    }
                    continuation.resume(returning: ((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data()))
                }
                holder.set(task)
                task.resume()
            }
        } onCancel: {
            holder.cancel()
        }
    }

    /// Long-polls for a build; nil when none arrived in time.
    public func lease() async throws -> BuildPack? {
        let (status, data) = try await post(WorkerProtocol.leasePath, LeaseRequest(workerID: workerID, platforms: platforms), timeout: 40)
        switch status {
        case 200: return try JSONDecoder().decode(BuildPack.self, from: data)
        case 204: return nil
        default: throw ProtocolError(status: status, description: "lease failed with HTTP \(status): \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
    }

    /// Reports the build alive. With `wait`, the orchestrator may hold the answer that long and
    /// answers as soon as the build must stop. Throws when the lease is gone (the build must stop
    /// too).
    public func heartbeat(_ pack: BuildPack, wait: Int? = nil) async throws -> HeartbeatResponse {
        let (status, data) = try await post(WorkerProtocol.buildPath(pack.buildID, "heartbeat"), Heartbeat(workerID: workerID, waitSeconds: wait),
                                            lease: pack.leaseID)
        guard status == 200 else { throw ProtocolError(status: status, description: "heartbeat refused with HTTP \(status)") }
        return try JSONDecoder().decode(HeartbeatResponse.self, from: data)
    }

    public func phase(_ pack: BuildPack, _ update: PhaseUpdate) async throws {
        let (status, data) = try await post(WorkerProtocol.buildPath(pack.buildID, "phase"), update, lease: pack.leaseID)
        guard status == 204 else {
            throw ProtocolError(status: status, description: "phase refused with HTTP \(status): \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
    }

    /// Sends a batch; returns the next sequence the orchestrator expects.
    public func logs(_ pack: BuildPack, _ batch: LogBatch) async throws -> Int {
        let (status, data) = try await post(WorkerProtocol.buildPath(pack.buildID, "logs"), batch, lease: pack.leaseID)
        guard status == 200 else { throw ProtocolError(status: status, description: "logs refused with HTTP \(status)") }
        return try JSONDecoder().decode(LogBatchResponse.self, from: data).nextSequence
    }

    public func complete(_ pack: BuildPack, _ completion: Completion) async throws {
        let (status, _) = try await post(WorkerProtocol.buildPath(pack.buildID, "complete"), completion, lease: pack.leaseID)
        guard status == 204 else { throw ProtocolError(status: status, description: "completion refused with HTTP \(status)") }
    }
}

/// Lets the cancellation handler reach the data task created inside the continuation.
final class TaskHolder: Sendable {
    private struct State {
        var task: URLSessionDataTask?
        var cancelled = false
    }
    // URLSessionDataTask is thread-safe (its `cancel()` may be called from any thread) but is
    // not marked Sendable.
    private let state = Mutex(State())

    func set(_ task: URLSessionDataTask) {
        let cancelNow = state.withLock { s in
            s.task = task
            return s.cancelled
        }
        if cancelNow { task.cancel() }
    }

    func cancel() {
        let task = state.withLock { s in
            s.cancelled = true
            return s.task
        }
        task?.cancel()
    }
}
