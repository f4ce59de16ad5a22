// libarchive converts entry names between the archive's charset and the current locale's. A Swift
// process runs in the C locale, where UTF-8 zip names cannot be converted and come back as nil.
// The extraction thread switches to a UTF-8 locale for its own duration only (`uselocale` is
// per-thread), never process-wide with `setlocale`.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A UTF-8 `LC_CTYPE` installed on the calling thread until `restore()`.
struct UTF8ThreadLocale {
    private let previous: locale_t?
    private let utf8: locale_t?

    init() {
        var utf8: locale_t?
        for name in ["C.UTF-8", "C.utf8", "en_US.UTF-8"] {
            if let locale = newlocale(LC_CTYPE_MASK, name, nil) {
                utf8 = locale
                break
            }
        }
        self.utf8 = utf8
        // Without any UTF-8 locale, ASCII names still work; others are reported as undecodable.
        self.previous = utf8.map { uselocale($0) } ?? nil
    }

    func restore() {
        guard let utf8 else { return }
        uselocale(previous)
        freelocale(utf8)
    }
}
