import Accounts
import Foundation
import OutboundHTTP
import Registry
import SlipwayCore

/// Checks a `POST …/notification/` body and turns it into what is stored. Every refusal is a
/// Quay `invalid_request` whose message names the field.
struct NotificationValidator: Sendable {
    let services: RegistryServices

    /// Webhook and Slack URLs may reach private networks when either switch allows it.
    var allowPrivateTargets: Bool {
        services.config.notifications.allowPrivateTargets || services.config.security.allowPrivateTargets
    }

    static let maxConfigBytes = 64 * 1024
    static let maxTitleLength = 255

    struct Validated: Sendable {
        var new: NewRepositoryNotification
        /// The e-mail address of an `email` notification.
        var email: String?
    }

    /// `days` and similar: a positive integer given as a JSON number or a string of digits.
    static func positiveInt(_ value: EventValue) -> Int64? {
        switch value {
        case .int(let n): return n > 0 ? n : nil
        case .string(let s): return Int64(s.trimmingCharacters(in: .whitespaces)).flatMap { $0 > 0 ? $0 : nil }
        default: return nil
        }
    }

    func validate(_ body: [String: EventValue], repository: Repository) async throws -> Validated {
        guard case .string(let event)? = body["event"], !event.isEmpty else {
            throw APIError.invalidRequest("'event' is required: one of \(NotificationCatalog.events.joined(separator: ", "))")
        }
        guard NotificationCatalog.events.contains(event) else {
            throw APIError.invalidRequest("unknown event '\(event)': expected one of \(NotificationCatalog.events.joined(separator: ", "))")
        }
        guard case .string(let methodName)? = body["method"], !methodName.isEmpty else {
            throw APIError.invalidRequest("'method' is required: one of \(NotificationCatalog.Method.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let method = NotificationCatalog.Method(rawValue: methodName) else {
            throw APIError.invalidRequest("Unable to find method: \(methodName) (expected one of \(NotificationCatalog.Method.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard case .object(var config)? = body["config"] else { throw APIError.invalidRequest("'config' must be an object") }
        var eventConfig: [String: EventValue] = [:]
        switch body["eventConfig"] {
        case .object(let o)?: eventConfig = o
        case nil, .null?: break
        default: throw APIError.invalidRequest("'eventConfig' must be an object")
        }
        var title: String?
        switch body["title"] {
        case .string(let t)?:
            let trimmed = t.trimmingCharacters(in: .whitespacesAndNewlines)
            guard trimmed.count <= Self.maxTitleLength else { throw APIError.invalidRequest("'title' is longer than \(Self.maxTitleLength) characters") }
            guard !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw APIError.invalidRequest("'title' contains control characters")
            }
            title = trimmed.isEmpty ? nil : trimmed
        case nil, .null?: break
        default: throw APIError.invalidRequest("'title' must be a string")
        }
        guard EventValue.object(config).json.utf8.count + EventValue.object(eventConfig).json.utf8.count <= Self.maxConfigBytes else {
            throw APIError.invalidRequest("'config' and 'eventConfig' together are larger than \(Self.maxConfigBytes) bytes")
        }

        let expiryDays = try validateEventConfig(event: event, eventConfig)

        var secretSealed: String?
        var email: String?
        switch method {
        case .webhook:
            try await checkURL(config["url"], name: "webhook URL", missing: "Missing webhook URL")
            switch config["template"] {
            case nil, .null?: break
            case .string(let text)? where text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty: break
            case .string(let text)?:
                do { _ = try WebhookTemplate(text, event: event) } catch { throw APIError.invalidRequest(error.description) }
            case let value?:
                // A template given as a JSON object rather than a string of JSON.
                do { _ = try WebhookTemplate(value.json, event: event) } catch { throw APIError.invalidRequest(error.description) }
            }
            switch config.removeValue(forKey: "secret") {
            case nil, .null?: break
            case .string(let secret)?:
                guard !secret.isEmpty, secret.utf8.count <= 1024 else { throw APIError.invalidRequest("'config.secret' must be 1 to 1024 bytes") }
                secretSealed = try services.secretBox.seal(secret, context: Self.secretContext)
            default: throw APIError.invalidRequest("'config.secret' must be a string")
            }
        case .slack:
            try await checkURL(config["url"], name: "Slack URL", missing: "Missing Slack Callback URL")
        case .email:
            guard case .string(let raw)? = config["email"], !raw.isEmpty else { throw APIError.invalidRequest("Missing e-mail address") }
            let address = raw.trimmingCharacters(in: .whitespaces)
            guard Self.isValidEmail(address) else { throw APIError.invalidRequest("'\(address.prefix(100))' is not a valid e-mail address") }
            config["email"] = .string(address)
            email = address
        case .quayNotification:
            guard case .object(let target)? = config["target"], case .string(let kind)? = target["kind"], !kind.isEmpty else {
                throw APIError.invalidRequest("Missing target")
            }
            guard case .string(let name)? = target["name"], !name.isEmpty else { throw APIError.invalidRequest("Missing target name") }
            if case .invalid(let why) = try await NotificationRecipients(accounts: services.accounts).resolve(kind: kind, name: name, repositoryNamespace: repository.namespace) {
                throw APIError.invalidRequest(why)
            }
        case .flowdock:
            guard case .string(let token)? = config["flow_api_token"], !token.isEmpty else { throw APIError.invalidRequest("Missing Flowdock API Token") }
        case .hipchat:
            guard case .string(let token)? = config["notification_token"], !token.isEmpty else {
                throw APIError.invalidRequest("Missing Hipchat Room Notification Token")
            }
            guard let room = config["room_id"], room != .null, room != .string("") else { throw APIError.invalidRequest("Missing Hipchat Room ID") }
        }
        let new = NewRepositoryNotification(repositoryID: repository.id, title: title, event: event, method: method.rawValue, config: config,
                                            eventConfig: eventConfig, secretSealed: secretSealed, expiryDays: expiryDays)
        return Validated(new: new, email: email)
    }

    static let secretContext = "notification-webhook-secret"

    /// Returns `days` for `repo_image_expiry`.
    func validateEventConfig(event: String, _ eventConfig: [String: EventValue]) throws -> Int64? {
        if NotificationCatalog.buildEvents.contains(event) {
            switch eventConfig["ref-regex"] {
            case nil, .null?: break
            case .string(let pattern)?:
                guard pattern.utf8.count <= 1024 else { throw APIError.invalidRequest("'eventConfig.ref-regex' is longer than 1024 bytes") }
                if !pattern.isEmpty {
                    do { _ = try Regex(pattern) } catch {
                        throw APIError.invalidRequest("'eventConfig.ref-regex' is not a valid regular expression: \(String(describing: error).prefix(200))")
                    }
                }
            default: throw APIError.invalidRequest("'eventConfig.ref-regex' must be a string")
            }
        }
        if event == "repo_image_expiry" {
            guard let value = eventConfig["days"] else {
                throw APIError.invalidRequest("'eventConfig.days' is required for repo_image_expiry: the number of days before expiry to notify")
            }
            guard let days = Self.positiveInt(value), days <= 3650 else {
                throw APIError.invalidRequest("'eventConfig.days' must be a whole number of days from 1 to 3650")
            }
            return days
        }
        return nil
    }

    func checkURL(_ value: EventValue?, name: String, missing: String) async throws {
        guard case .string(let url)? = value, !url.isEmpty else { throw APIError.invalidRequest(missing) }
        do {
            _ = try await URLSafety.check(url, allowPrivate: allowPrivateTargets)
        } catch {
            throw APIError.invalidRequest("Invalid \(name): \(error.reason)")
        }
    }

    /// A plain `local@domain` address: no display names, comments, spaces or line breaks (it goes
    /// into SMTP commands and headers).
    static func isValidEmail(_ text: String) -> Bool {
        guard text.utf8.count <= 254, let at = text.lastIndex(of: "@") else { return false }
        let local = text[..<at]
        let domain = text[text.index(after: at)...]
        guard !local.isEmpty, local.utf8.count <= 64, !domain.isEmpty, domain.contains("."), !domain.hasPrefix("."), !domain.hasSuffix(".") else {
            return false
        }
        let localAllowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!#$%&'*+/=?^_`{|}~-")
        let domainAllowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
        return local.allSatisfy(localAllowed.contains) && domain.allSatisfy(domainAllowed.contains) && !domain.contains("..")
    }
}
