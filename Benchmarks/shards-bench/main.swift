import Foundation
import Shards

/// Benchmarks for the Shards module, driven by tools/bench-shards.sh (which runs dd and Python's
/// mosaicml-streaming beside it). Each command prints one line: `name seconds MB/s samples/s`.
///
///   shards-bench write DIR TOTAL_MB SAMPLE_BYTES [SIZE_LIMIT_BYTES] [COMPRESSION]
///   shards-bench read DIR                sequential: every sample decoded, in order
///   shards-bench read-raw DIR            sequential: every sample's bytes, not decoded (zero-copy)
///   shards-bench shuffled DIR SEED [no-verify]   shuffled order (ShuffleOptions defaults), every
///                                        sample decoded; `no-verify` skips the hash check at open,
///                                        as Python's StreamingDataset does by default
///   shards-bench resume POSITION         time to plan a resume at POSITION of a synthetic 20M-sample index
///
/// `write` samples have columns `id` (int) and `payload` (bytes, incompressible); the tests use it
/// as a writer to kill mid-shard.

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func report(_ name: String, _ time: Double, bytes: Int, samples: Int) {
    print(String(format: "%@ %.3f s %.1f MB/s %.0f samples/s", name, time, Double(bytes) / time / 1e6, Double(samples) / time))
}

/// Incompressible bytes; sample `id` takes a window starting at a position derived from its id.
func noise(_ count: Int) -> [UInt8] {
    var state: UInt64 = 0x243F_6A88_85A3_08D3
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 56)
    }
}

func payloadSample(_ id: Int, sampleBytes: Int, pool: [UInt8]) -> ShardSample {
    let offset = (id &* 7919) % (pool.count - sampleBytes)
    return ["id": .int(Int64(id)), "payload": .bytes(Array(pool[offset..<offset + sampleBytes]))]
}

func run() throws {
    let args = CommandLine.arguments
    guard args.count >= 3 else {
        print("usage: shards-bench write|read|shuffled|resume ...")
        exit(2)
    }
    switch args[1] {
    case "write":
        let directory = URL(fileURLWithPath: args[2])
        let totalBytes = (Int(args[3]) ?? 1024) << 20
        let sampleBytes = Int(args[4]) ?? 4096
        let sizeLimit = args.count > 5 ? Int(args[5]) ?? (1 << 26) : 1 << 26
        let compression = args.count > 6 ? try Compression(parsing: args[6]) : nil
        let config = ShardConfig(columns: ["id": .int, "payload": .bytes], compression: compression,
                                 hashes: [.xxh64], sizeLimit: sizeLimit)
        let resuming = FileManager.default.fileExists(atPath: directory.appendingPathComponent("index.json").path)
        let writer = resuming ? try ShardWriter(resuming: directory, config: config) : try ShardWriter(directory: directory, config: config)
        let pool = noise(max(1 << 20, sampleBytes * 2))
        let count = totalBytes / sampleBytes
        let time = try seconds {
            for id in writer.samplesWritten..<count { try writer.write(payloadSample(id, sampleBytes: sampleBytes, pool: pool)) }
            try writer.finish()
        }
        report("write", time, bytes: count * sampleBytes, samples: count)
    case "read-raw":
        let dataset = try ShardDataset(directory: URL(fileURLWithPath: args[2]))
        var bytes = 0
        let time = try seconds {
            for i in 0..<dataset.count { bytes &+= try dataset.withRawSample(i) { $0.count } }
        }
        report("read-raw", time, bytes: bytes, samples: dataset.count)
    case "read", "shuffled":
        let verify = !(args.count > 4 && args[4] == "no-verify")
        let dataset = try ShardDataset(directory: URL(fileURLWithPath: args[2]), options: ReadOptions(verifyHashes: verify))
        var bytes = 0
        let time: Double
        if args[1] == "read" {
            time = try seconds {
                for i in 0..<dataset.count {
                    if case .bytes(let b)? = try dataset.sample(i)["payload"] { bytes += b.count }
                }
            }
        } else {
            let seed = UInt64(args.count > 3 ? args[3] : "0") ?? 0
            time = try seconds {
                let plan = dataset.plan(ResumeState(seed: seed, worldSize: 1))
                for j in 0..<plan.count {
                    if case .bytes(let b)? = try dataset.sample(plan[j].sample)["payload"] { bytes += b.count }
                }
            }
        }
        report(args[1] + (verify ? "" : " (no-verify)"), time, bytes: bytes, samples: dataset.count)
    case "resume":
        let position = Int(args[2]) ?? 10_000_000
        let spans = (0..<10_000).map { SampleSpan(start: $0 * 2_000, count: 2_000) }
        var times: [Double] = []
        var checksum = 0
        for _ in 0..<21 {
            times.append(seconds {
                let state = ResumeState(epoch: 3, position: position, seed: 17, worldSize: 8)
                let plan = RankPlan(spans: spans, state: state, options: ShuffleOptions(), rank: 0, worldSize: 8, remainder: .pad)
                checksum &+= plan[0].sample
            })
        }
        times.sort()
        print(String(format: "resume at %d of 20000000: median %.3f ms, max %.3f ms (first sample %d)",
                     position, times[10] * 1e3, times[20] * 1e3, checksum / 21))
    default:
        print("unknown command \(args[1])")
        exit(2)
    }
}

do {
    try run()
} catch {
    FileHandle.standardError.write(Data("shards-bench: \(error)\n".utf8))
    exit(1)
}
