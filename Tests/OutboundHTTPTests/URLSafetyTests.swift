import Foundation
@testable import OutboundHTTP
import Synchronization
import Testing

@Suite("URL safety (SSRF checks)")
struct URLSafetyTests {
    /// Address → the reason it is refused, or nil when it is an ordinary public address.
    static let addresses: [(String, String?)] = [
        ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"),
        ("10.0.0.1", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"), ("192.168.1.1", "private"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("169.254.169.254", "cloud metadata"), ("169.254.1.1", "link-local"), ("168.63.129.16", "cloud metadata"),
        ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"),
        ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("192.0.2.10", "reserved"), ("198.18.0.1", "reserved"),
        ("::", "unspecified"), ("::1", "loopback"),
        ("fd00:ec2::254", "cloud metadata"), ("fc00::1", "private"), ("fdff:ffff::1", "private"),
        ("fe80::1", "link-local"), ("febf::1", "link-local"), ("fec0::1", "private"), ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "cloud metadata"), ("::ffff:10.1.2.3", "private"),
        ("64:ff9b::a9fe:a9fe", "cloud metadata"), ("2002:7f00:1::", "loopback"), ("2002:c0a8:101::1", "private"),
        ("::7f00:1", "reserved"), ("2001:db8::1", "reserved"), ("2001:0:4136:e378::1", "reserved"),
        // Public.
        ("8.8.8.8", nil), ("93.184.216.34", nil), ("172.32.0.1", nil), ("172.15.255.255", nil), ("100.128.0.1", nil),
        ("169.253.255.255", nil), ("223.255.255.255", nil), ("1.1.1.1", nil),
        ("2606:4700:4700::1111", nil), ("2a00:1450:4001:80b::200e", nil), ("::ffff:8.8.8.8", nil), ("2002:808:808::1", nil),
        ("fbff::1", nil), ("fe00::1", nil),
    ]

    @Test(arguments: addresses)
    func classifiesAddresses(address: String, reason: String?) throws {
        let ip = try #require(IPAddress(address), "\(address) should parse")
        #expect(URLSafety.forbiddenReason(ip) == reason, "\(address)")
    }

    @Test func parsesIPLiteralsStrictly() {
        #expect(IPAddress("127.1") == nil)  // inet_pton: dotted quad only; resolution judges the rest
        #expect(IPAddress("fe80::1%eth0") == nil)
        #expect(IPAddress("not an ip") == nil)
        #expect(IPAddress("10.0.0.1")?.description == "10.0.0.1")
        #expect(IPAddress("::ffff:10.0.0.1")?.description == "::ffff:10.0.0.1")
    }

    /// URL → the parsed host, port and request target, or nil when the syntax is refused.
    static let urls: [(String, (host: String, port: Int, target: String, hostHeader: String)?)] = [
        ("http://example.com", ("example.com", 80, "/", "example.com")),
        ("https://Example.COM:8443/hook?a=1&b=2#frag", ("example.com", 8443, "/hook?a=1&b=2", "example.com:8443")),
        ("https://example.com:443/x", ("example.com", 443, "/x", "example.com")),
        ("http://[2606:4700::1]:8080/p", ("2606:4700::1", 8080, "/p", "[2606:4700::1]:8080")),
        ("http://user:pa%20ss@example.com/", ("example.com", 80, "/", "example.com")),
        // Container networks name services with underscores (a worker's orchestrator URL).
        ("http://slipway_server:8080/buildman", ("slipway_server", 8080, "/buildman", "slipway_server:8080")),
        ("file:///etc/passwd", nil),
        ("ftp://example.com/", nil),
        ("gopher://example.com/", nil),
        ("javascript:alert(1)", nil),
        ("http://", nil),
        ("http:///path", nil),
        ("http://exa mple.com/", nil),
        ("http://example.com/\r\nX-Injected: 1", nil),
        ("http://ex%61mple.com/", nil),
        ("http://exämple.com/", nil),
        ("http://example.com:0/", nil),
        ("http://[fe80::1%25eth0]/", nil),
        ("not a url", nil),
        ("http://" + String(repeating: "a", count: 2100) + ".com/", nil),
    ]

    @Test(arguments: urls)
    func parsesURLs(url: String, expected: (host: String, port: Int, target: String, hostHeader: String)?) {
        let parsed = try? URLSafety.parse(url)
        if let expected {
            #expect(parsed?.host == expected.host, "\(url)")
            #expect(parsed?.port == expected.port, "\(url)")
            #expect(parsed?.requestTarget == expected.target, "\(url)")
            #expect(parsed?.hostHeader == expected.hostHeader, "\(url)")
        } else {
            #expect(parsed == nil, "\(url) should be refused, got \(String(describing: parsed))")
        }
    }

    @Test func carriesCredentialsForBasicAuth() throws {
        #expect(try URLSafety.parse("https://u:p%40ss@example.com/").userInfo == "u:p%40ss")
        #expect(try URLSafety.parse("https://example.com/").userInfo == nil)
    }

    /// Resolution of literals and `localhost` needs no network.
    static let refusedTargets = [
        "http://127.0.0.1/", "http://127.0.0.1:8080/hook", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/",
        "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://localhost/", "http://LOCALHOST./", "http://api.localhost/",
        "http://metadata.google.internal/computeMetadata/v1/", "http://0.0.0.0/", "http://[fd00:ec2::254]/",
        // Numeric forms getaddrinfo accepts (inet_aton): judged by what they resolve to.
        "http://2130706433/", "http://0x7f000001/", "http://127.1/", "http://0177.0.0.1/",
        "file:///etc/passwd",
    ]

    @Test(arguments: refusedTargets)
    func refusesInternalTargets(url: String) async {
        await #expect(throws: URLSafety.Refusal.self, "\(url)") { _ = try await URLSafety.check(url, allowPrivate: false) }
    }

    @Test func allowsPublicLiteralsAndPrivateWhenConfigured() async throws {
        let target = try await URLSafety.check("https://93.184.216.34/hook", allowPrivate: false)
        #expect(target.addresses.count == 1)
        #expect(target.parsed.hostIsIPLiteral)
        #expect(try await URLSafety.check("http://127.0.0.1:9/", allowPrivate: true).addresses.count == 1)
        // The scheme rule holds even when private targets are allowed.
        await #expect(throws: URLSafety.Refusal.self) { _ = try await URLSafety.check("file:///etc/passwd", allowPrivate: true) }
    }

    @Test func clientRefusesBeforeConnecting() async {
        let client = OutboundHTTPClient(.init(allowPrivateTargets: false, timeout: .seconds(2)))
        do {
            _ = try await client.send(to: "http://169.254.169.254/", body: Array("{}".utf8))
            Issue.record("expected a refusal")
        } catch {
            guard case .refused = error else { Issue.record("expected .refused, got \(error)"); return }
        }
    }

    /// A DNS server that never answers: the check gives up at its limit with a refusal that
    /// says so, instead of holding its caller for the resolver's own timeouts (and a thread of
    /// the caller's pool with it).
    @Test func aLookupThatNeverAnswersIsRefusedAtTheLimit() async throws {
        let silent = HostResolver { _, _ in
            // Uncancellable, like getaddrinfo: 30 s unless the check stops waiting for it.
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().asyncAfter(deadline: .now() + 30) { c.resume() }
            }
            return []
        }
        let start = ContinuousClock.now
        let refusal = await #expect(throws: URLSafety.Refusal.self) {
            _ = try await URLSafety.check("https://git.example.com/", allowPrivate: false, resolver: silent, lookupLimit: .milliseconds(300))
        }
        #expect(refusal?.reason == "the URL's host could not be resolved within 0.3 seconds", "\(refusal?.reason ?? "")")
        // Well under the resolver's 30 s; the margin is for a loaded machine's scheduling.
        #expect(ContinuousClock.now - start < .seconds(25))
    }

    /// Literals are answered without a lookup thread: they still work while every lookup thread
    /// waits on a DNS server that does not answer.
    @Test func literalsNeedNoLookupThread() async throws {
        // Every lookup thread held until the literal has been checked, as with a DNS server that
        // does not answer. No clock: a literal that needed a lookup thread could only go on once
        // a holder let go (after 60 s at worst), and that is what the flag records.
        let (busy, started) = AsyncStream<Void>.makeStream()
        let hold = DispatchSemaphore(value: 0)
        final class Count: Sendable { let value = Mutex(0) }
        let holdersDone = Count()
        let holders = (0..<4).map { _ in
            Task {
                try? await OutboundThreads.lookups.runIfActive {
                    started.yield()
                    _ = hold.wait(timeout: .now() + 60)
                    holdersDone.value.withLock { $0 += 1 }
                }
            }
        }
        var iterator = busy.makeAsyncIterator()
        for _ in 0..<4 { await iterator.next() }
        let target = try await URLSafety.check("http://127.0.0.1:9/", allowPrivate: true, resolver: .system, lookupLimit: .seconds(90))
        #expect(target.addresses.map(\.port) == [9])
        #expect(holdersDone.value.withLock { $0 } == 0, "a literal waited for a lookup thread")
        for _ in 0..<4 { hold.signal() }
        for holder in holders { await holder.value }
    }
}
