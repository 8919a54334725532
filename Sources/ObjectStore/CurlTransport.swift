import CCurl
import Foundation
import Synchronization

/// The status and headers (names lowercased) of one HTTP exchange.
struct HTTPResponse: Sendable {
    var status: Int
    var headers: [String: String]
}

/// Blocking HTTP over libcurl's easy interface, on the caller's thread: the engine runs on threads
/// of its own, so a transfer is a plain call, not a future. Easy handles are pooled and reused so
/// their keep-alive connections are too.
final class CurlTransport: Sendable {
    /// A transfer that stalls (below one byte per second) this long is cut and reported as a timeout.
    let stallSeconds: Int
    let connectSeconds: Int
    private let idle = Mutex<[EasyHandle]>([])

    /// Run once, on first use; a failure is reported by each request rather than trapping, since
    /// it depends on the environment (memory, the TLS library), not on our code.
    private static let globalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_ALL))

    init(stallSeconds: Int = 30, connectSeconds: Int = 10) {
        self.stallSeconds = stallSeconds
        self.connectSeconds = connectSeconds
    }

    /// Sends one request. `body` (if any) is uploaded as is; the response body of a 2xx answer goes
    /// to `receive` in pieces (return false to abort), that of any other status is kept (up to
    /// 64 KiB) and returned in `errorBody`. `accept` sees the status and headers of a 2xx answer
    /// before its first byte goes to `receive` (and once the answer is complete if it had none):
    /// an error it returns stops the transfer and is thrown, so a range a server ignored never
    /// reaches the receiver. Up to `redirects` redirects are followed, to http(s) only. Throws
    /// when no HTTP answer arrived or `accept` refused one.
    func perform(method: String, url: String, headers: [(String, String)], body: UnsafeRawBufferPointer?, redirects: Int = 0,
                 accept: ((HTTPResponse) -> ObjectStoreError?)? = nil,
                 receive: (UnsafeRawBufferPointer) -> Bool) throws(ObjectStoreError) -> (HTTPResponse, errorBody: [UInt8]) {
        guard Self.globalInit == CURLE_OK else {
            throw ObjectStoreError(.httpLibrary, "libcurl could not be initialised (curl_global_init: "
                                   + "\(String(cString: curl_easy_strerror(Self.globalInit))))")
        }
        let easy: EasyHandle
        if let pooled = idle.withLock({ $0.popLast() }) { easy = pooled } else { easy = try EasyHandle.make() }
        defer { idle.withLock { $0.append(easy) } }
        let handle = easy.raw
        curl_easy_reset(handle)

        let noCheck: (HTTPResponse) -> ObjectStoreError? = { _ in nil }
        return try withoutActuallyEscaping(receive) { receive throws(ObjectStoreError) in
          try withoutActuallyEscaping(accept ?? noCheck) { accept throws(ObjectStoreError) in
            let exchange = Exchange(body: body, receive: receive, accept: accept)
            let context = Unmanaged.passUnretained(exchange).toOpaque()
            var list: UnsafeMutablePointer<curl_slist>?
            // No `Expect: 100-continue` round trip before each upload.
            for line in headers.map({ "\($0.0): \($0.1)" }) + ["Expect:"] { list = curl_slist_append(list, line) }
            defer { curl_slist_free_all(list) }

            sluice_curl_set_string(handle, CURLOPT_URL, url)
            sluice_curl_set_long(handle, CURLOPT_NOSIGNAL, 1)
            sluice_curl_set_long(handle, CURLOPT_CONNECTTIMEOUT, connectSeconds)
            sluice_curl_set_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
            sluice_curl_set_long(handle, CURLOPT_LOW_SPEED_TIME, stallSeconds)
            sluice_curl_set_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
            if redirects > 0 {
                sluice_curl_set_long(handle, CURLOPT_FOLLOWLOCATION, 1)
                sluice_curl_set_long(handle, CURLOPT_MAXREDIRS, redirects)
                sluice_curl_set_string(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
            }
            sluice_curl_set_headers(handle, list)
            sluice_curl_set_write_function(handle, CURLOPT_HEADERFUNCTION, Exchange.onHeader)
            sluice_curl_set_pointer(handle, CURLOPT_HEADERDATA, context)
            sluice_curl_set_write_function(handle, CURLOPT_WRITEFUNCTION, Exchange.onBody)
            sluice_curl_set_pointer(handle, CURLOPT_WRITEDATA, context)
            switch method {
            case "GET": break
            case "HEAD": sluice_curl_set_long(handle, CURLOPT_NOBODY, 1)
            default:
                if body != nil || method == "PUT" || method == "POST" {
                    sluice_curl_set_long(handle, CURLOPT_UPLOAD, 1)
                    sluice_curl_set_offset(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(body?.count ?? 0))
                    sluice_curl_set_read_function(handle, Exchange.onRead)
                    sluice_curl_set_pointer(handle, CURLOPT_READDATA, context)
                }
                if method != "PUT" { sluice_curl_set_string(handle, CURLOPT_CUSTOMREQUEST, method) }
            }
            let code = curl_easy_perform(handle)
            if let refused = exchange.refused { throw refused }
            if exchange.aborted {
                throw ObjectStoreError(.localFile, "the download was stopped by its receiver")
            }
            guard code == CURLE_OK else {
                let (kind, reason) = Self.failure(code)
                throw ObjectStoreError(kind, url: url, "\(method) failed: \(reason)")
            }
            let response = HTTPResponse(status: Int(sluice_curl_response_code(handle)), headers: exchange.headers)
            if !exchange.accepted && (200..<300).contains(response.status), let refused = accept(response) { throw refused }
            return (response, exchange.errorBody)
          }
        }
    }

    /// A libcurl failure in words a user can act on, and whether it is worth retrying: a refused
    /// connection or a dropped one may be a server restarting; a bad certificate or a redirect
    /// loop will not mend itself.
    static func failure(_ code: CURLcode) -> (ObjectStoreError.Code, String) {
        let curl = String(cString: curl_easy_strerror(code))
        switch code {
        case CURLE_OPERATION_TIMEDOUT: return (.timeout, "no progress in time (\(curl))")
        case CURLE_COULDNT_CONNECT: return (.network, "could not connect: connection refused or host unreachable")
        case CURLE_COULDNT_RESOLVE_HOST: return (.network, "the host name could not be resolved")
        case CURLE_PARTIAL_FILE, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING:
            return (.network, "the connection was cut short (\(curl))")
        case CURLE_TOO_MANY_REDIRECTS: return (.rejected, "too many redirects")
        case CURLE_UNSUPPORTED_PROTOCOL: return (.rejected, "redirected to a URL that is not http or https")
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CONNECT_ERROR:
            return (.rejected, "the TLS connection could not be verified (\(curl))")
        default: return (.network, curl)
        }
    }

    /// One curl easy handle, owned by the pool.
    final class EasyHandle: @unchecked Sendable {
        let raw: UnsafeMutableRawPointer
        private init(_ raw: UnsafeMutableRawPointer) { self.raw = raw }

        /// A new handle; libcurl returns none only when it cannot allocate one.
        static func make() throws(ObjectStoreError) -> EasyHandle {
            guard let handle = curl_easy_init() else {
                throw ObjectStoreError(.httpLibrary, "libcurl could not create a connection handle (curl_easy_init: out of memory)")
            }
            return EasyHandle(handle)
        }
        deinit { curl_easy_cleanup(raw) }
    }

    /// The state libcurl's callbacks see during one transfer.
    private final class Exchange {
        let body: UnsafeRawBufferPointer?
        var sent = 0
        let receive: (UnsafeRawBufferPointer) -> Bool
        let accept: (HTTPResponse) -> ObjectStoreError?
        var status = 0
        var headers: [String: String] = [:]
        var errorBody: [UInt8] = []
        var aborted = false
        var accepted = false
        var refused: ObjectStoreError?

        init(body: UnsafeRawBufferPointer?, receive: @escaping (UnsafeRawBufferPointer) -> Bool,
             accept: @escaping (HTTPResponse) -> ObjectStoreError?) {
            self.body = body
            self.receive = receive
            self.accept = accept
        }

        static func from(_ pointer: UnsafeMutableRawPointer?) -> Exchange {
            Unmanaged<Exchange>.fromOpaque(pointer!).takeUnretainedValue()
        }

        static let onHeader: curl_write_callback = { data, size, count, context in
            let exchange = from(context)
            let length = size * count
            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
            if line.hasPrefix("HTTP/") {
                // A new status line (after a 100 Continue or a redirect) starts a new header set.
                exchange.status = Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
                exchange.headers = [:]
            } else if let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].lowercased()
                exchange.headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return length
        }

        static let onBody: curl_write_callback = { data, size, count, context in
            let exchange = from(context)
            let length = size * count
            let bytes = UnsafeRawBufferPointer(start: data, count: length)
            if (200..<300).contains(exchange.status) {
                if !exchange.accepted {
                    exchange.accepted = true
                    exchange.refused = exchange.accept(HTTPResponse(status: exchange.status, headers: exchange.headers))
                    if exchange.refused != nil { return 0 }
                }
                guard exchange.receive(bytes) else {
                    exchange.aborted = true
                    return 0
                }
            } else if exchange.errorBody.count < 1 << 16 {
                exchange.errorBody += bytes.prefix(1 << 16 - exchange.errorBody.count)
            }
            return length
        }

        static let onRead: curl_read_callback = { buffer, size, count, context in
            let exchange = from(context)
            guard let body = exchange.body, let buffer else { return 0 }
            let n = min(size * count, body.count - exchange.sent)
            if n > 0 { memcpy(buffer, body.baseAddress! + exchange.sent, n) }
            exchange.sent += n
            return n
        }
    }
}
