import Foundation
import ObjectStore
import S3TestServer
import Testing

/// `HTTPClient` against a real HTTP server on 127.0.0.1 (Tests/S3TestServer/http_test_server.py)
/// that serves ranges and, asked by a path prefix, cuts transfers short, fails, ignores ranges or
/// redirects.
@Suite struct HTTPClientTests {
    static let shared = Result { try LocalHTTPServer() }

    func server() throws -> LocalHTTPServer { try Self.shared.get() }

    /// A fast retry policy: the tests check what is retried, not how patiently.
    let quick = RetryPolicy(attempts: 9, baseDelay: 0.001, maxDelay: 0.01)

    func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    @Test func headGetAndRanges() throws {
        let server = try server()
        let name = "basics-\(UUID().uuidString.prefix(6)).bin"
        let bytes = randomBytes(200_000, seed: 1)
        try server.put(bytes, at: name)
        let client = HTTPClient(retry: quick)
        let info = try client.head(server.url(name))
        #expect(info.size == bytes.count)
        #expect(info.etag?.hasPrefix("\"") == true && info.lastModified != nil)
        #expect(try client.get(server.url(name)) == bytes)
        #expect(try client.get(server.url(name), range: 1000..<1010) == Array(bytes[1000..<1010]))
        #expect(try client.get(server.url(name), range: 5..<5) == [])
        let past = #expect(throws: ObjectStoreError.self) { try client.get(server.url(name), range: 199_990..<200_020) }
        #expect(past?.code == .rejected)
        #expect(past?.reason.contains("past the object's end") == true)
    }

    /// Every answer of `/cut/N/` stops after N bytes: the read resumes from the byte it reached,
    /// each resumed request pinned to the first answer's ETag, and each byte arrives once.
    @Test func cutTransfersResumeWhereTheyStopped() throws {
        let server = try server()
        let name = "cut-\(UUID().uuidString.prefix(6)).bin"
        let bytes = randomBytes(100_000, seed: 2)
        try server.put(bytes, at: name)
        let client = HTTPClient(retry: RetryPolicy(attempts: 20, baseDelay: 0.001, maxDelay: 0.01))
        var received: [UInt8] = []
        try client.read(server.url("cut/30000/\(name)")) { received += $0; return true }
        #expect(received == bytes)
        #expect(try client.get(server.url("cut/30000/\(name)"), range: 10_000..<90_000) == Array(bytes[10_000..<90_000]))

        let gets = try server.requests().filter { $0["path"] == "/cut/30000/\(name)" && $0["method"] == "GET" }
        #expect(gets.map { $0["range"] ?? "" } == ["", "bytes=30000-", "bytes=60000-", "bytes=90000-",
                                                   "bytes=10000-89999", "bytes=40000-89999", "bytes=70000-89999"])
        let etag = try client.head(server.url(name)).etag
        #expect(gets.dropFirst().allSatisfy { $0["range"] == "bytes=10000-89999" || ($0["if-match"] == etag && $0["if-range"] == etag) })

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-http-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try client.download(server.url("cut/30000/\(name)"), to: file) == bytes.count)
        #expect(try Data(contentsOf: file) == Data(bytes))
        #expect(!FileManager.default.fileExists(atPath: file.path + ".partial"))
    }

    /// An object that changes between a cut answer and the resumed one is an error, not two
    /// versions spliced together; nothing is left under the download's name.
    @Test func anObjectChangedMidTransferIsAnError() throws {
        let server = try server()
        let name = "changing-\(UUID().uuidString.prefix(6)).bin"
        try server.put(randomBytes(50_000, seed: 3), at: name)
        let client = HTTPClient(retry: quick)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-http-\(UUID().uuidString)")
        let error = #expect(throws: ObjectStoreError.self) { try client.download(server.url("cut-changing/20000/\(name)"), to: file) }
        #expect(error?.status == 412)
        #expect(error?.description.contains("changed while it was read") == true)
        #expect(!FileManager.default.fileExists(atPath: file.path))
        #expect(!FileManager.default.fileExists(atPath: file.path + ".partial"))
    }

    /// A server that answers a range with the whole object is refused before any of its bytes
    /// reach the receiver.
    @Test func aServerIgnoringRangesIsAnErrorNotDuplicates() throws {
        let server = try server()
        let name = "ignore-\(UUID().uuidString.prefix(6)).bin"
        try server.put(randomBytes(10_000, seed: 4), at: name)
        var received = 0
        let error = #expect(throws: ObjectStoreError.self) {
            try HTTPClient(retry: quick).read(server.url("ignore-range/\(name)"), range: 100..<200) { received += $0.count; return true }
        }
        #expect(error?.code == .badResponse)
        #expect(error?.reason.contains("ignored a range request") == true)
        #expect(received == 0)
    }

    /// Plain words and the URL for each failure; 5xx retried with backoff, 404 not.
    @Test func errorsNameTheURLAndStatus() throws {
        let server = try server()
        let name = "err-\(UUID().uuidString.prefix(6)).txt"
        try server.put(Array("hello".utf8), at: name)
        let client = HTTPClient(retry: quick)

        let missing = #expect(throws: ObjectStoreError.self) { try client.get(server.url("nothing-here.bin")) }
        #expect(missing?.code == .notFound)
        #expect(missing?.description == "\(server.url("nothing-here.bin")): HTTP 404: not found")
        let forbidden = #expect(throws: ObjectStoreError.self) { try client.head(server.url("status/403/x")) }
        #expect(forbidden?.code == .accessDenied && forbidden?.status == 403)

        let failing = #expect(throws: ObjectStoreError.self) { try client.get(server.url("status/500/\(name)")) }
        #expect(failing?.code == .serverError)
        #expect(failing?.reason == "the server failed (gave up after 9 tries)")
        #expect(try server.requests().filter { $0["path"] == "/status/500/\(name)" }.count == 9)

        #expect(try client.get(server.url("flaky/2/\(name)")) == Array("hello".utf8), "two 500s, then served")

        // A port nothing listens on: reserved by binding it, then closed.
        let closed = try Self.closedPort()
        let refused = #expect(throws: ObjectStoreError.self) {
            try HTTPClient(retry: .none).get(URL(string: "http://127.0.0.1:\(closed)/a?token=secret")!)
        }
        #expect(refused?.code == .network)
        #expect(refused?.description == "http://127.0.0.1:\(closed)/a: GET failed: could not connect: connection refused or host unreachable")
    }

    @Test func redirectsAreFollowedAndLimited() throws {
        let server = try server()
        let name = "moved-\(UUID().uuidString.prefix(6)).txt"
        try server.put(Array("moved".utf8), at: name)
        #expect(try HTTPClient(retry: quick).get(server.url("redirect/3/\(name)")) == Array("moved".utf8))
        #expect(try HTTPClient(retry: quick).head(server.url("redirect/3/\(name)")).size == 5)
        let loop = #expect(throws: ObjectStoreError.self) {
            try HTTPClient(retry: quick, maxRedirects: 2).get(server.url("redirect/3/\(name)"))
        }
        #expect(loop?.code == .rejected)
        #expect(loop?.reason.contains("too many redirects") == true)
    }

    /// A TCP port that was free a moment ago and has no listener now.
    static func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
