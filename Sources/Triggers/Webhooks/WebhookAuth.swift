import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Registry

/// Webhook authentication. The URL's user-info (`$token:<secret>`) arrives as Basic
/// credentials; the secret is compared in constant time. When the trigger also has a signing
/// secret (`webhook_secret`), the body must be signed the way the sender signs it: GitHub's
/// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256>`, Bitbucket's `X-Hub-Signature: sha256=<hex>`,
/// or GitLab's `X-Gitlab-Token: <secret>` (GitLab sends the secret itself).
enum WebhookAuth {
    static let username = "$token"

    enum Verdict: Equatable { case ok, missing(String), wrong(String) }

    static func basicCredentials(_ request: Request) -> (user: String, password: String)? {
        guard let header = request.headers[.authorization], header.count < 4096 else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic", let data = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
              let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    static func checkSecret(_ request: Request, expected: String) -> Verdict {
        guard let (user, password) = basicCredentials(request) else {
            return .missing("this webhook needs the credentials in its URL (https://$token:<secret>@host/...): see the trigger's View Credentials")
        }
        // Some senders keep the URL's percent-encoding of `$` in the user name.
        let userOK = user == username || user.lowercased() == "%24token"
        guard ConstantTime.equal(password, expected), userOK else {
            return .wrong("the webhook secret is not valid for this trigger")
        }
        return .ok
    }

    static func checkSignature(_ request: Request, body: [UInt8], secret: String) -> Verdict {
        let key = SymmetricKey(data: Data(secret.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: key).map { String(format: "%02x", $0) }.joined()
        var presented = false
        for name in ["X-Hub-Signature-256", "X-Hub-Signature"] {
            guard let value = request.headers[HTTPField.Name(name)!] else { continue }
            presented = true
            guard value.lowercased().hasPrefix("sha256="), ConstantTime.equal(String(value.dropFirst(7)).lowercased(), mac) else {
                return .wrong("the \(name) signature does not match the body (HMAC-SHA256 with the trigger's webhook_secret)")
            }
        }
        if let token = request.headers[HTTPField.Name("X-Gitlab-Token")!] {
            presented = true
            guard ConstantTime.equal(token, secret) else { return .wrong("X-Gitlab-Token does not match the trigger's webhook_secret") }
        }
        return presented ? .ok : .missing("this trigger has a webhook_secret: sign the body (X-Hub-Signature-256: sha256=<HMAC-SHA256 hex>) or send X-Gitlab-Token")
    }
}
