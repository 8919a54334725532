import Foundation
import ObjectStore

/// A plain HTTP server (http_test_server.py beside this file, on Python's standard library) serving
/// a scratch directory on 127.0.0.1 and a free port, for the tests of `HTTPClient` and of pipelines
/// reading `http://` inputs. Unlike `python3 -m http.server` it answers Range requests, and path
/// prefixes make it misbehave on purpose: `/cut/N/`, `/cut-changing/N/`, `/flaky/K/`,
/// `/ignore-range/`, `/redirect/K/`, `/status/CODE/` (see the script). It exits when this process
/// closes its standard input, so it never outlives the tests.
public final class LocalHTTPServer: @unchecked Sendable {
    /// The directory served; the tests write their files here.
    public let root: URL
    public let port: Int
    private let process: Process
    private let input: Pipe

    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    /// Starts the server and returns once it printed that it listens (no sleeping on a guess).
    public init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-http-" + UUID().uuidString.prefix(8))
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("http_test_server.py")
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, root.path]
        input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        // Reads until the `ready PORT` line (or the end, if the server failed to start).
        var text = ""
        while !text.contains("\n") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard text.hasPrefix("ready "), let port = Int(text.dropFirst(6).prefix { $0.isNumber }) else {
            process.terminate()
            throw Unavailable(description: "the test HTTP server did not start (python3 \(script.path)): '\(text)'")
        }
        self.port = port
    }

    /// `http://127.0.0.1:PORT/path` (path without its leading slash).
    public func url(_ path: String) -> URL { URL(string: "http://127.0.0.1:\(port)/\(path)")! }

    /// Writes `bytes` as the file served at `/name` (and under every misbehaving prefix).
    public func put(_ bytes: [UInt8], at name: String) throws {
        let file = root.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: file)
    }

    /// The requests the server received, oldest first (the `/__log` endpoint).
    public func requests() throws -> [[String: String]] {
        let text = String(decoding: try HTTPClient(retry: .none).get(url("__log")), as: UTF8.self)
        return text.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?.compactMapValues { $0 as? String }
        }
    }

    /// Stops the server and removes its directory.
    public func stop() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: root)
    }

    deinit { stop() }
}
