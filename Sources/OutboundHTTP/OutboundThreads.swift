import NIOPosix

/// Threads for the client's blocking calls: name resolution (`getaddrinfo`) and download file
/// writes. Its own pool rather than `NIOThreadPool.singleton`, which password hashing and
/// libarchive extraction keep busy for seconds at a time: a download queued behind them would
/// stop reading its socket and trip its idle limit, and a callback would wait on its lookup.
/// Started once, lives as long as the process.
enum OutboundThreads {
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()
}
