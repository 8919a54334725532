import Crypto
import Foundation
import ObjectStore
import S3TestServer
import Shards

/// Object-storage benchmarks and interop helpers, driven by tools/bench-s3.sh and
/// tools/s3-interop.sh (which run mosaicml-streaming and the AWS CLI beside them). The client
/// comes from the environment (S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...), as for any user.
///
///   s3-bench serve ENVFILE               start SeaweedFS on 127.0.0.1, write its variables to ENVFILE, run until killed
///   s3-bench write URL COUNT PAYLOAD SIZE_LIMIT   write a dataset (id:int, text:str, payload:bytes) to the bucket
///   s3-bench digest URL CACHE            read every sample; print the count and the digest of its (id, text) pairs
///   s3-bench shuffled URL CACHE SEED [CONSUMER_US]  cold-cache shuffled read; CONSUMER_US of work per sample
///   s3-bench upload FILE URL             one file through the multipart uploader
///
/// Lines read `name seconds MB/s samples/s` and then `key=value` figures.

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// The digest both sides of the interop check print: SHA-256 over `id\ttext\n`, in id order.
func digest(_ rows: [(Int64, String)]) -> String {
    var hasher = SHA256()
    for (id, text) in rows.sorted(by: { $0.0 < $1.0 }) { hasher.update(data: Array("\(id)\t\(text)\n".utf8)) }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
}

func payload(_ id: Int, _ count: Int) -> [UInt8] {
    var state = UInt64(id) &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 56)
    }
}

func open(_ url: String, cache: String, readAhead: Int = 4) throws -> ShardDataset {
    try? FileManager.default.removeItem(atPath: cache)
    return try ShardDataset(remote: ObjectURL(parsing: url), cache: URL(fileURLWithPath: cache), client: S3Client(),
                            remoteOptions: RemoteOptions(readAhead: readAhead, downloaders: 2))
}

func run() throws {
    let args = CommandLine.arguments
    guard args.count >= 3 else {
        print("usage: s3-bench serve|write|digest|shuffled|upload ...")
        exit(2)
    }
    switch args[1] {
    case "serve":
        let server = try LocalS3Server(bucket: "sluice-bench")
        let lines = server.environment.sorted { $0.key < $1.key }.map { "export \($0.key)=\($0.value)" }
            + ["export SLUICE_S3_BUCKET=\(server.bucket)", "export SLUICE_S3_DIR=\(server.directory.path)"]
        try (lines.joined(separator: "\n") + "\n").write(toFile: args[2], atomically: true, encoding: .utf8)
        while true { sleep(3600) }
    case "write":
        let (count, size, limit) = (Int(args[3])!, Int(args[4])!, Int(args[5])!)
        let staging = FileManager.default.temporaryDirectory.appendingPathComponent("s3-bench-staging-\(getpid())")
        defer { try? FileManager.default.removeItem(at: staging) }
        let config = ShardConfig(columns: ["id": .int, "text": .str, "payload": .bytes], hashes: [.xxh64], sizeLimit: limit)
        var rows: [(Int64, String)] = []
        let time = try seconds {
            let writer = try BucketPublisher.writer(ObjectURL(parsing: args[2]), staging: staging, config: config,
                                                    client: S3Client(), resume: false)
            for id in 0..<count {
                let text = "sample \(id)"
                rows.append((Int64(id), text))
                try writer.write(["id": .int(Int64(id)), "text": .string(text), "payload": .bytes(payload(id, size))])
            }
            try writer.finish()
        }
        print(String(format: "sluice-write %.3f s %.1f MB/s %.0f samples/s", time, Double(count * size) / time / 1e6, Double(count) / time))
        print("count=\(count) digest=\(digest(rows))")
    case "digest":
        let dataset = try open(args[2], cache: args[3])
        var rows: [(Int64, String)] = []
        for i in 0..<dataset.count {
            let sample = try dataset.sample(i)
            guard case .int(let id)? = sample["id"], case .string(let text)? = sample["text"] else {
                throw ShardError(.invalidValue, path: args[2], sample: i, "no int id and str text columns")
            }
            rows.append((id, text))
        }
        print("count=\(rows.count) digest=\(digest(rows))")
    case "shuffled":
        let consumer = args.count > 5 ? Double(args[5])! / 1e6 : 0
        var bytes = 0
        var count = 0
        var failures = 0
        var dataset: ShardDataset?
        let time = try seconds {
            let opened = try open(args[2], cache: args[3])
            dataset = opened
            let plan = opened.plan(ResumeState(seed: UInt64(args[4])!, worldSize: 1), options: ShuffleOptions(seed: UInt64(args[4])!))
            let reader = ParallelReader(datasets: [opened], plan: plan, workers: 2)
            while let result = reader.next() {
                switch result {
                case .sample(_, _, let value):
                    if case .bytes(let b)? = value["payload"] { bytes += b.count }
                    count += 1
                    if consumer > 0 { Thread.sleep(forTimeInterval: consumer) }
                case .failed: failures += 1
                }
            }
        }
        let stats = dataset!.cacheStats!
        print(String(format: "sluice-shuffled %.3f s %.1f MB/s %.0f samples/s", time, Double(bytes) / time / 1e6, Double(count) / time))
        print(String(format: "shards=%d hit_rate=%.3f max_depth=%d downloads=%d failures=%d",
                     dataset!.index.shards.count, stats.hitRate, stats.maxDepth, stats.downloads, failures))
    case "upload":
        let file = URL(fileURLWithPath: args[2])
        let size = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as! NSNumber).intValue
        let client = try S3Client()
        let time = try seconds { try client.upload(file: file, to: ObjectURL(parsing: args[3])) }
        print(String(format: "sluice-upload %.3f s %.1f MB/s", time, Double(size) / time / 1e6))
    default:
        print("unknown command \(args[1])")
        exit(2)
    }
}

do {
    try run()
} catch {
    FileHandle.standardError.write(Data("s3-bench: \(error)\n".utf8))
    exit(1)
}
