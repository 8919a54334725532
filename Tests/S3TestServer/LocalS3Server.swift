import Foundation
import ObjectStore
import Synchronization

/// A real S3 server (SeaweedFS's `weed mini`) on 127.0.0.1, for tests and benchmarks: it checks
/// signatures, serves ranges and multipart uploads, and can be stopped and restarted on the same
/// ports and data to test what a client does when its server goes away.
///
/// The binary comes from tools/install-s3-server.sh (`make test` runs it): `SLUICE_WEED`, else
/// ~/.cache/sluice/seaweedfs/bin/weed, else `weed` on PATH. The server runs under a small shell that
/// kills it if this process dies, so a crashed test run leaves no server behind.
public final class LocalS3Server: @unchecked Sendable {
    public let bucket: String
    public let directory: URL
    public var s3Port: Int { basePort + 6 }
    public static let accessKey = "sluice-test-key"
    public static let secretKey = "sluice-test-secret"
    private var basePort: Int
    private let binary: String
    private let process = Mutex<Process?>(nil)

    /// Why a server could not start: not installed (run tools/install-s3-server.sh) or failed.
    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
        /// The server quit at once, as it does when another process took one of its ports.
        var exitedAtStart = false
    }

    /// The `weed` binary, if installed.
    public static var binaryPath: String? {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let explicit = environment["SLUICE_WEED"] { candidates.append(explicit) }
        let venv = environment["SLUICE_WEED_VENV"] ?? NSHomeDirectory() + "/.cache/sluice/seaweedfs"
        candidates.append(venv + "/bin/weed")
        for dir in (environment["PATH"] ?? "").split(separator: ":") { candidates.append("\(dir)/weed") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// True when the tests may skip for want of a server: never in CI (`CI=true`), where a missing
    /// server must fail the run rather than pass it quietly.
    public static var mayBeMissing: Bool {
        binaryPath == nil && ProcessInfo.processInfo.environment["CI"] != "true"
    }

    /// Starts a server with one bucket and waits until it answers (a few seconds).
    public init(bucket: String = "sluice-test") throws {
        guard let binary = Self.binaryPath else {
            throw Unavailable(description: "SeaweedFS is not installed: run tools/install-s3-server.sh (make test does)")
        }
        self.binary = binary
        self.bucket = bucket
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-s3-" + UUID().uuidString.prefix(8))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        basePort = try Self.reservePortBlock()
        // A port found free can be taken before weed binds it (other tests start servers too):
        // then weed quits at once, and a fresh block is tried.
        for attempt in 1... {
            do {
                try start()
                return
            } catch let error as Unavailable where error.exitedAtStart && attempt < 3 {
                Self.release(basePort)
                basePort = try Self.reservePortBlock()
            }
        }
    }

    /// A client signed with this server's credentials (or `secret` instead, to test a wrong one).
    public func client(secret: String = LocalS3Server.secretKey, retry: RetryPolicy = RetryPolicy(),
                       partSize: Int = 5 << 20, multipartThreshold: Int = 8 << 20) -> S3Client {
        S3Client(configuration: configuration(secret: secret), retry: retry, multipartThreshold: multipartThreshold,
                 partSize: partSize)
    }

    public func configuration(secret: String = LocalS3Server.secretKey) -> S3Configuration {
        S3Configuration(endpoint: endpoint, region: "us-east-1",
                        credentials: S3Credentials(accessKeyID: Self.accessKey, secretAccessKey: secret))
    }

    public var endpoint: String { "http://127.0.0.1:\(s3Port)" }

    /// Variables that point the AWS CLI, boto3, mosaicml-streaming and sluice at this server.
    public var environment: [String: String] {
        ["AWS_ACCESS_KEY_ID": Self.accessKey, "AWS_SECRET_ACCESS_KEY": Self.secretKey, "AWS_REGION": "us-east-1",
         "S3_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL": endpoint]
    }

    /// `s3://bucket/prefix`.
    public func url(_ key: String) -> ObjectURL { ObjectURL(bucket: bucket, key: key) }

    /// Starts the server on its ports and data (again, after `stop`), waiting until it answers.
    public func start() throws {
        let p = basePort
        let ports = [
            "master.port": p, "master.port.grpc": p + 1, "volume.port": p + 2, "volume.port.grpc": p + 3,
            "filer.port": p + 4, "filer.port.grpc": p + 5, "s3.port": p + 6, "s3.port.grpc": p + 7,
            "admin.port": p + 8, "admin.port.grpc": p + 9, "s3.port.iceberg": p + 10, "s3.port.lance": p + 11,
        ]
        let flags = ["-dir=\(directory.appendingPathComponent("data").path)", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                     "-bucket=\(bucket)", "-webdav=false"] + ports.sorted { $0.key < $1.key }.map { "-\($0.key)=\($0.value)" }
        let command = ([binary, "mini"] + flags).map { "'\($0)'" }.joined(separator: " ")
        // The shell starts weed, stops it on TERM (killing it if it lingers), and kills it and removes
        // its data if the test process goes away. Its output goes to weed.log, never to the pipes
        // `swift test` waits on.
        let script = """
            \(command) >>'\(directory.path)/weed.log' 2>&1 </dev/null & w=$!
            trap '(sleep 5; kill -9 $w 2>/dev/null) & kill $w 2>/dev/null; wait $w; exit 0' TERM
            while kill -0 \(getpid()) 2>/dev/null && kill -0 $w 2>/dev/null; do sleep 0.2; done
            kill -9 $w 2>/dev/null; wait $w
            kill -0 \(getpid()) 2>/dev/null || rm -rf '\(directory.path)'
            """
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sh")
        child.arguments = ["-c", script]
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ACCESS_KEY_ID"] = Self.accessKey
        environment["AWS_SECRET_ACCESS_KEY"] = Self.secretKey
        child.environment = environment
        child.standardInput = FileHandle.nullDevice
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        process.withLock { $0 = child }
        try waitUntilReady(child)
    }

    /// Stops the server and waits until it has exited (its data stays for `start`).
    public func stop() {
        guard let child = process.withLock({ p -> Process? in defer { p = nil }; return p }) else { return }
        if child.isRunning { child.terminate() }
        child.waitUntilExit()
        // Wait for the ports to close, so a restart can bind them.
        let deadline = Date().addingTimeInterval(10)
        while Self.isListening(s3Port) || Self.isListening(basePort), Date() < deadline { usleep(50_000) }
    }

    deinit {
        stop()
        Self.release(basePort)
        try? FileManager.default.removeItem(at: directory)
    }

    private func waitUntilReady(_ child: Process) throws {
        let probe = client(retry: .none)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            guard child.isRunning else {
                throw Unavailable(description: "weed exited at start: \(logTail())", exitedAtStart: true)
            }
            if Self.isListening(s3Port), (try? probe.list(url(""))) != nil { return }
            usleep(100_000)
        }
        throw Unavailable(description: "weed did not answer on port \(s3Port) within 60 s: \(logTail())")
    }

    private func logTail() -> String {
        let text = (try? String(contentsOf: directory.appendingPathComponent("weed.log"), encoding: .utf8)) ?? ""
        return String(text.suffix(1500))
    }

    private static let portCount = 12
    /// Port blocks of this process's servers, kept while they live: a server that is stopped to be
    /// restarted leaves its ports free, and another test must not pick them meanwhile.
    private static let reserved = Mutex<Set<Int>>([])

    /// A block of consecutive ports nothing listens on and no server of this process holds
    /// (several developers' tests share the machine).
    private static func reservePortBlock() throws -> Int {
        for _ in 0..<200 {
            let base = Int.random(in: 20_000...(60_000 - portCount))
            let taken = reserved.withLock { blocks in
                guard !blocks.contains(where: { abs($0 - base) < portCount }) else { return true }
                blocks.insert(base)
                return false
            }
            if taken { continue }
            if (base..<base + portCount).allSatisfy(canBind) { return base }
            release(base)
        }
        throw Unavailable(description: "no block of \(portCount) free ports on 127.0.0.1")
    }

    private static func release(_ base: Int) {
        _ = reserved.withLock { $0.remove(base) }
    }

    private static func canBind(_ port: Int) -> Bool {
        withSocket { fd, address in
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            return withUnsafePointer(to: address(port)) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
        }
    }

    static func isListening(_ port: Int) -> Bool {
        withSocket { fd, address in
            withUnsafePointer(to: address(port)) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
        }
    }

    private static func withSocket(_ body: (Int32, (Int) -> sockaddr_in) -> Bool) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return body(fd) { port in
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            return address
        }
    }
}
