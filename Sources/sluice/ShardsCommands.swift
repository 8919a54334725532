import ArgumentParser
import Foundation
import ObjectStore
import Shards

/// `sluice shards ...`: look into MDS datasets without writing a pipeline.
struct ShardsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shards",
        abstract: "Inspect, verify, print and merge MDS shard datasets.",
        subcommands: [Inspect.self, Verify.self, Cat.self, Merge.self])

    /// The dataset argument the subcommands share: a directory, or a prefix in a bucket whose
    /// shards stream through the read-ahead cache as in a `shards` source.
    struct DatasetArgument: ParsableArguments {
        @Argument(help: "The dataset directory (holding index.json), or s3://bucket/prefix.")
        var directory: String

        @Option(help: ArgumentHelp("s3: the cache directory for the index and shard files (default: ~/.cache/sluice/s3/BUCKET/PREFIX).",
                                   valueName: "dir"), transform: localPath)
        var cache: String?

        @Option(help: ArgumentHelp("s3: shards fetched ahead of the one being read.", valueName: "n"))
        var readAhead = 4

        @Option(help: ArgumentHelp("s3: bytes of shard files the cache keeps (at least 4x the largest shard); default: no limit.",
                                   valueName: "bytes"))
        var cacheLimit: Int?

        func open(verify: Bool = true) throws -> ShardDataset {
            if let remote = ObjectURL(directory) {
                let cache = cache.map { URL(fileURLWithPath: $0) }
                    ?? URL(fileURLWithPath: NSHomeDirectory()).appendingPathComponent(".cache/sluice/s3/\(remote.bucket)/\(remote.key)")
                return try ShardDataset(remote: remote, cache: cache, client: S3Client(), options: ReadOptions(verifyHashes: verify),
                                        remoteOptions: RemoteOptions(readAhead: readAhead, cacheLimit: cacheLimit))
            }
            return try ShardDataset(directory: URL(fileURLWithPath: directory), options: ReadOptions(verifyHashes: verify))
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Columns, sample and shard counts, sizes, compression and hashes.")

        @OptionGroup var dataset: DatasetArgument

        @Flag(help: "Also list every shard.")
        var shards = false

        func run() throws {
            let data = try dataset.open()
            let index = data.index
            print("dataset: \(dataset.directory)\(data.isComplete ? "" : "  (UNFINISHED: its writer stopped; listing the shards it completed)")")
            print("samples: \(data.count) in \(index.shards.count) shard(s)")
            let raw = index.shards.reduce(0) { $0 + $1.rawData.bytes }
            let stored = index.shards.reduce(0) { $0 + $1.storedFile.bytes }
            print("bytes: \(raw) uncompressed, \(stored) on disk")
            let configs = index.shards.map(\.config).reduce(into: [ShardConfig]()) { if !$0.contains($1) { $0.append($1) } }
            for config in configs {
                print("columns:")
                for (name, encoding) in zip(config.columnNames, config.columnEncodings) {
                    print("  \(name): \(encoding)\(encoding.fixedSize.map { " (\($0) bytes)" } ?? "")")
                }
                print("compression: \(config.compression?.description ?? "none")")
                print("hashes: \(config.hashes.isEmpty ? "none" : config.hashes.joined(separator: ", "))")
                print("size limit: \(config.sizeLimit.map(String.init) ?? "none")")
            }
            guard shards else { return }
            for (i, shard) in index.shards.enumerated() {
                print("  \(shard.storedFile.basename): \(shard.samples) samples, \(shard.storedFile.bytes) bytes"
                      + (shard.zipData != nil ? " (\(shard.rawData.bytes) uncompressed)" : "")
                      + ", samples \(data.sampleStarts[i])..<\(data.sampleStarts[i + 1])")
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every shard's hashes and decode every sample; exit 65 if anything is wrong.")

        @OptionGroup var dataset: DatasetArgument

        func run() throws {
            let data = try dataset.open()
            let problems = data.verify()
            for problem in problems { print("FAIL \(problem)") }
            let note = data.isComplete ? "" : " (unfinished dataset: only its completed shards were checked)"
            if problems.isEmpty {
                print("ok: \(data.index.shards.count) shard(s), \(data.count) samples\(note)")
            } else {
                print("\(problems.count) of \(data.index.shards.count) shard(s) damaged\(note)")
                throw ExitCode.badData
            }
        }
    }

    struct Cat: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print samples as JSON lines: numbers as numbers, ndarrays as nested lists, bytes as base64.",
            discussion: "sluice shards cat DIR --index 7\nsluice shards cat DIR --range 100..<110")

        @OptionGroup var dataset: DatasetArgument

        @Option(help: "One sample's global index (repeatable).")
        var index: [Int] = []

        @Option(help: ArgumentHelp("A range of global indices: A..<B or A...B.", valueName: "range"))
        var range: String?

        func run() throws {
            let data = try dataset.open()
            let range = try range.map(Self.parse)
            let all = index.isEmpty && range == nil ? 0..<data.count : nil
            // Ranges are walked, never materialised: `--range 0..<9223372036854775807` costs nothing up front.
            for i in index { try show(i, of: data) }
            for r in [range, all].compactMap({ $0 }) {
                for i in r.clamped(to: 0..<data.count) { try show(i, of: data) }
                if !r.isEmpty && r.upperBound > data.count { try show(max(r.lowerBound, data.count), of: data) }
            }
        }

        private func show(_ i: Int, of data: ShardDataset) throws {
            let sample = try data.sample(i)
            let shard = data.index.shards[data.locate(i).shard]
            let fields = shard.config.columnNames.compactMap { name in sample[name].map { (name, $0.jsonValue) } }
            print(JSONValue.object(fields).pythonJSON())
        }

        /// `A..<B` or `A...B` with 0 <= A; `A...Int.max` saturates rather than overflowing.
        static func parse(_ text: String) throws -> Range<Int> {
            for (separator, closed) in [("..<", false), ("...", true)] {
                let parts = text.components(separatedBy: separator)
                guard parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]), low >= 0 else { continue }
                let upper = closed ? (high == Int.max ? high : high + 1) : high
                if low <= upper { return low..<upper }
            }
            throw ValidationError("--range takes A..<B or A...B with 0 <= A <= B, got '\(text)'")
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join the finished datasets of several writers (subdirectories) into one index.",
            discussion: """
                sluice shards merge out/train part-0 part-1        # out/train/index.json
                sluice shards merge s3://data/train part-0 part-1  # in the bucket
                In a bucket only the parts' indexes are read, and every shard they list is
                checked to be there at its size before the merged index (the one object
                written) is uploaded.
                """)

        @Argument(help: "The directory (or s3://bucket/prefix) holding the parts; the merged index.json goes here.")
        var directory: String

        @Argument(help: "The parts: subdirectories (or prefixes) of DIRECTORY, each a finished dataset, in order.", transform: partName)
        var parts: [String]

        func run() throws {
            let merged: DatasetIndex
            if let remote = ObjectURL(directory) {
                let staging = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-merge-\(UUID().uuidString)")
                defer { try? FileManager.default.removeItem(at: staging) }
                merged = try DatasetIndex.merge(parts: parts, in: remote, client: S3Client(), staging: staging)
            } else {
                merged = try DatasetIndex.merge(parts: parts, into: URL(fileURLWithPath: directory))
            }
            print("merged \(parts.count) part(s): \(merged.shards.count) shard(s), \(merged.sampleCount) samples")
        }
    }
}
