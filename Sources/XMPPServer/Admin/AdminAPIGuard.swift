import Foundation
import NIOConcurrencyHelpers

/// A refusal of an admin API call, as JSON the caller can act on.
public struct AdminAPIRefusal: Error, Sendable, Hashable {
    public var status: Int
    /// A stable, machine-readable reason (`invalid_token`, `insufficient_scope`, …).
    public var code: String
    public var message: String
    public var headers: [String: String] = [:]

    static func badPath() -> AdminAPIRefusal {
        AdminAPIRefusal(status: 400, code: "bad_path", message: "the path has an encoded, relative or empty segment")
    }
}

/// Everything the guard looks at before an admin API call runs: the request line and the
/// headers that decide who may call and from where.
public struct AdminAPIRequestHead: Sendable {
    public var method: String
    /// The path as sent, before any decoding, without the query.
    public var path: String
    public var authorization: String?
    public var origin: String?
    public var contentType: String?
    public var remoteAddress: String

    public init(method: String, path: String, authorization: String?, origin: String?, contentType: String?, remoteAddress: String) {
        self.method = method
        self.path = path
        self.authorization = authorization
        self.origin = origin
        self.contentType = contentType
        self.remoteAddress = remoteAddress
    }

    /// GET and HEAD only read; anything else changes something.
    var scopeNeeded: AdminScope {
        self.method == "GET" || self.method == "HEAD" ? .read : .write
    }
}

/// The checks every admin API call passes, in order, before any operation runs: path shape,
/// request rate, token guessing, cross-site origin, bearer token, scope, body type.
///
/// Why these: the best-known XMPP server compromise (Openfire CVE-2023-32315) reached admin
/// pages through an encoded `..` that one layer decoded and another did not, so paths with
/// encoded, dot or empty segments are refused outright, before routing. Tokens travel only in
/// the Authorization header, which browsers never add on their own, and a request a browser
/// sends from another origin is refused, so a page elsewhere cannot ride on an operator's
/// browser (CSRF). Guessing tokens is slowed by the same per-address lockout as XMPP logins.
public struct AdminAPIGuard: Sendable {
    /// How long wrong tokens count against an address, and how long its lockout lasts.
    public static let failureWindow: TimeInterval = 300

    /// The configured limits (`admin_api`).
    private let settings: ServerConfiguration.AdminAPISettings
    private let allowedOrigins: Set<String>
    private let state = NIOLockedValueBox(GuardState())

    public init(settings: ServerConfiguration.AdminAPISettings = .init()) {
        self.settings = settings
        self.allowedOrigins = Set(settings.allowedOrigins)
    }

    private struct GuardState {
        var buckets: [String: TokenBucket] = [:]
        var failures: [String: [Date]] = [:]
    }

    /// Checks that need no storage; nil when the call may go on to the token check.
    public func precheck(_ head: AdminAPIRequestHead, now: Date = Date()) -> AdminAPIRefusal? {
        guard Self.isPlainPath(head.path) else { return .badPath() }
        if let refusal = self.rateRefusal(head.remoteAddress, now: now) { return refusal }
        if let origin = head.origin, !self.allowedOrigins.contains(origin) {
            return AdminAPIRefusal(status: 403, code: "origin_not_allowed", message: "calls from pages on \(origin) are not allowed (admin_api.allowed_origins)")
        }
        return nil
    }

    /// The request rate and wrong-token lockout of an address, which the web UI shares: nil when
    /// the address may make one more request now.
    public func rateRefusal(_ remoteAddress: String, now: Date = Date()) -> AdminAPIRefusal? {
        let seconds = now.timeIntervalSince1970
        let settings = self.settings
        let (waitSeconds, lockedOut) = self.state.withLockedValue { state -> (Double, Bool) in
            // Bounded memory: a flood from many addresses resets the table rather than growing it.
            if state.buckets.count > 10_000 { state.buckets.removeAll() }
            var bucket = state.buckets[remoteAddress] ?? TokenBucket(rate: settings.requestsPerSecond, burst: settings.burst, now: seconds)
            let wait = bucket.take(1, now: seconds)
            if wait > 0 { bucket.refund(1) }
            state.buckets[remoteAddress] = bucket
            let recent = (state.failures[remoteAddress] ?? []).filter { now.timeIntervalSince($0) < Self.failureWindow }
            return (wait, recent.count >= settings.lockoutFailures)
        }
        guard waitSeconds > 0 || lockedOut else { return nil }
        let retry = lockedOut ? Int(Self.failureWindow) : max(1, Int(waitSeconds.rounded(.up)))
        return AdminAPIRefusal(
            status: 429, code: lockedOut ? "too_many_failures" : "rate_limited",
            message: lockedOut ? "too many calls with a wrong token from this address; wait" : "too many calls from this address; slow down",
            headers: ["Retry-After": "\(retry)"])
    }

    /// The bearer credential of the request, or the refusal when there is none.
    public func bearer(_ head: AdminAPIRequestHead) -> Result<String, AdminAPIRefusal> {
        guard let authorization = head.authorization else {
            return .failure(Self.unauthorized(code: "missing_token", message: "send Authorization: Bearer <token> (make one with `starling token create`)"))
        }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].caseInsensitiveCompare("Bearer") == .orderedSame else {
            return .failure(Self.unauthorized(code: "invalid_request", message: "the Authorization header must be Bearer <token>"))
        }
        return .success(String(parts[1]).trimmingCharacters(in: .whitespaces))
    }

    /// What the token check found, turned into the call's fate.
    public func admit(_ head: AdminAPIRequestHead, _ checked: Result<AdminTokenRecord, AdminTokenRefusal>, now: Date = Date()) -> Result<AdminTokenRecord, AdminAPIRefusal> {
        switch checked {
        case .failure(let refusal):
            self.state.withLockedValue { state in
                if state.failures.count > 10_000 { state.failures.removeAll() }
                var recent = (state.failures[head.remoteAddress] ?? []).filter { now.timeIntervalSince($0) < Self.failureWindow }
                recent.append(now)
                state.failures[head.remoteAddress] = recent
            }
            return .failure(
                refusal == .expired
                    ? Self.unauthorized(code: "invalid_token", message: "the token expired; make a new one with `starling token create`")
                    : Self.unauthorized(code: "invalid_token", message: "the token is not valid"))
        case .success(let record):
            guard record.scope >= head.scopeNeeded else {
                return .failure(
                    AdminAPIRefusal(
                        status: 403, code: "insufficient_scope", message: "this call needs a token with the scope \(head.scopeNeeded.rawValue)",
                        headers: ["WWW-Authenticate": "Bearer error=\"insufficient_scope\", scope=\"\(head.scopeNeeded.rawValue)\""]))
            }
            if head.scopeNeeded == .write, let type = head.contentType,
                type.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() != "application/json"
            {
                return .failure(AdminAPIRefusal(status: 415, code: "unsupported_media_type", message: "send the body as application/json"))
            }
            return .success(record)
        }
    }

    private static func unauthorized(code: String, message: String) -> AdminAPIRefusal {
        // RFC 6750 §3: the challenge names the error for a bad token, nothing for a missing one.
        let challenge = code == "missing_token" ? "Bearer realm=\"starling-admin\"" : "Bearer realm=\"starling-admin\", error=\"\(code)\""
        return AdminAPIRefusal(status: 401, code: code, message: message, headers: ["WWW-Authenticate": challenge])
    }

    /// Only unreserved characters, `@`, `/` between segments, and percent escapes of bytes above
    /// 0x7F (the UTF-8 of an address such as `josé@example.org`): nothing a later layer could
    /// decode into `/`, `.`, `%` or a control character; no `.`, `..` or empty segment.
    static func isPlainPath(_ path: String) -> Bool {
        guard path.hasPrefix("/"), path.utf8.count <= 512 else { return false }
        let segments = path.utf8.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        return segments.allSatisfy { segment in
            let bytes = Array(segment)
            guard !bytes.isEmpty, bytes != [0x2E], bytes != [0x2E, 0x2E] else { return false }
            var index = 0
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "%") {
                    guard index + 2 < bytes.count, let high = Self.hexValue(bytes[index + 1]), Self.hexValue(bytes[index + 2]) != nil, high >= 8
                    else { return false }
                    index += 3
                    continue
                }
                guard Self.isUnreserved(byte) else { return false }
                index += 1
            }
            return true
        }
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "~")
            || byte == UInt8(ascii: "@")
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }
}
