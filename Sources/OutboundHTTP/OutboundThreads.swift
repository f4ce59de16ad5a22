import NIOPosix

/// Threads for the client's blocking calls: download file writes, and (a pool of their own)
/// name resolution. Its own pool rather than `NIOThreadPool.singleton`, which password hashing and
/// libarchive extraction keep busy for seconds at a time: a download queued behind them would
/// stop reading its socket and trip its idle limit, and a callback would wait on its lookup.
/// Started once, lives as long as the process.
enum OutboundThreads {
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    /// `getaddrinfo` waits on the network, not the CPU, and an unreachable DNS server holds a
    /// thread for resolv.conf's timeouts: lookups get threads of their own, so a slow resolver
    /// delays other lookups, never a download's writes.
    static let lookups: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        return pool
    }()
}
