// Downloads a build context (an uploaded file from the orchestrator, or a user's archive_url)
// into a file, streaming, with two guards a plain URLSession download lacks: redirects are
// never followed (the orchestrator checked the URL it was given, not wherever a redirect
// points, such as a cloud metadata address), and the body is cut off past `maxBytes` instead
// of filling the worker's disk before extraction limits get a say.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

struct DownloadError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

enum ContextDownload {
    static func fetch(_ url: String, to file: URL, maxBytes: Int64) async throws {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw DownloadError(message: "'\(url)' is not an http or https URL")
        }
        try? FileManager.default.removeItem(at: file)
        guard FileManager.default.createFile(atPath: file.path, contents: nil),
              let handle = try? FileHandle(forWritingTo: file) else {
            throw DownloadError(message: "cannot create \(file.lastPathComponent)")
        }
        let delegate = DownloadDelegate(handle: handle, maxBytes: maxBytes)
        let session = URLSession(configuration: .ephemeral, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                delegate.start(session.dataTask(with: parsed), continuation)
            }
        } onCancel: {
            delegate.cancel()
        }
    }
}

private final class DownloadDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let lock = NSLock()
    private let handle: FileHandle
    private let maxBytes: Int64
    private var received: Int64 = 0
    private var task: URLSessionDataTask?
    private var continuation: CheckedContinuation<Void, any Error>?
    private var failure: DownloadError?
    private var cancelled = false

    init(handle: FileHandle, maxBytes: Int64) {
        self.handle = handle
        self.maxBytes = maxBytes
    }

    func start(_ task: URLSessionDataTask, _ continuation: CheckedContinuation<Void, any Error>) {
        let cancelNow = lock.withLock { () -> Bool in
            self.task = task
            self.continuation = continuation
            return cancelled
        }
        task.resume()
        if cancelNow { task.cancel() }
    }

    func cancel() {
        let task = lock.withLock { () -> URLSessionDataTask? in
            cancelled = true
            return self.task
        }
        task?.cancel()
    }

    private func fail(_ message: String, _ task: URLSessionTask) {
        lock.withLock { if failure == nil { failure = DownloadError(message: message) } }
        task.cancel()
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)
        fail("the server answered with a redirect (HTTP \(response.statusCode)); redirects are not followed, give the final URL", task)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        guard let http = response as? HTTPURLResponse, (200..<300).contains(http.statusCode) else {
            let code = (response as? HTTPURLResponse)?.statusCode ?? 0
            completionHandler(.cancel)
            fail("the server answered HTTP \(code)", dataTask)
            return
        }
        if http.expectedContentLength > maxBytes {
            completionHandler(.cancel)
            fail("the archive is \(http.expectedContentLength) bytes, more than the \(maxBytes)-byte limit", dataTask)
            return
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let over = lock.withLock { () -> Bool in
            received += Int64(data.count)
            return received > maxBytes
        }
        if over {
            fail("the archive exceeds the \(maxBytes)-byte limit", dataTask)
            return
        }
        do {
            try handle.write(contentsOf: data)
        } catch {
            fail("cannot store the download: \(error.localizedDescription)", dataTask)
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        try? handle.close()
        let (continuation, failure, cancelled) = lock.withLock { () -> (CheckedContinuation<Void, any Error>?, DownloadError?, Bool) in
            let c = self.continuation
            self.continuation = nil
            return (c, self.failure, self.cancelled)
        }
        if let failure {
            continuation?.resume(throwing: failure)
        } else if cancelled {
            continuation?.resume(throwing: CancellationError())
        } else if let error {
            continuation?.resume(throwing: DownloadError(message: error.localizedDescription))
        } else {
            continuation?.resume()
        }
    }
}
