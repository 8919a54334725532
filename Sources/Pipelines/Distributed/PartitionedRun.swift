import MPIRanks
import Foundation
import ObjectStore
import PipelineCore
import Shards

/// A pipeline run as one rank of `mpiexec -n N sluice run FILE`.
///
/// Rank `r` keeps the source's items number `n` with `n % N == r` (numbered in the source's own
/// order, so the split is the same on every run) and writes everything it produces under
/// `OUT/part-r/`: its shards, JSON lines, arrays, quarantine and manifest. When every rank has
/// finished, rank 0 joins the parts into `OUT` as a one-process run would have left it: each MDS
/// dataset `P` gets the parts' shards moved to `OUT/P/part-r/` under one merged `OUT/P/index.json`
/// (the layout of mosaicml-streaming's `merge_index`); a dataset written to `s3://B/P` gets
/// `s3://B/P/part-r/` per rank and one `s3://B/P/index.json` uploaded by the merge, after every
/// part's shards are checked to be there; JSON-lines files are concatenated in rank
/// order, other files are moved, and the job's manifest (`OUT/manifest.json` unless the file
/// names another place, such as a bucket) lists every rank's inputs and quarantined items.
/// The ranks' own manifests stay in `OUT/part-r/`.
///
/// Ranks must see one shared output directory (one machine, or a shared file system).
public struct PartitionedRun {
    /// The plan as the file gives it.
    public let plan: PipelinePlan
    public let rank: Int
    public let size: Int

    public init(plan: PipelinePlan, rank: Int, size: Int) throws(PlanError) {
        guard let sink = plan.stages.last, !sink.spec.type.hasSuffix("_train") else {
            throw PlanError(.invalidStructure, path: "'\(plan.name)'", "ends in a trainer: pipeline training is not data-parallel yet; train with `mpiexec -n \(size) sluice retromae train`")
        }
        (self.plan, self.rank, self.size) = (plan, rank, size)
    }

    /// Where rank `rank` writes.
    public static func partName(_ rank: Int) -> String { "part-\(rank)" }

    /// This rank's plan: the rank split after the source (or the rank given to the stages that
    /// split by it themselves), every output under `OUT/part-RANK/`.
    public func rankPlan() throws(PlanError) -> PipelinePlan {
        var partitioned = plan
        let root = plan.outputDirectory.standardizedFileURL.path
        let part = plan.outputDirectory.appendingPathComponent(Self.partName(rank))
        partitioned.outputDirectory = part
        // Ranks keep their records in their parts; the merge writes (and uploads) the job's.
        partitioned.records = RunRecords(outputDirectory: part)
        partitioned.options.quarantineFile = partitioned.records.localFile(partitioned.records.quarantine)
        for index in partitioned.stages.indices {
            for (key, value) in partitioned.stages[index].parameters.values {
                guard case .output(let url) = value else { continue }
                let path = url.standardizedFileURL.path
                guard path == root || path.hasPrefix(root + "/") else {
                    throw PlanError(stage: partitioned.stages[index].name, "\(key) \(url.path) is outside the output directory \(plan.outputDirectory.path); a run on \(size) ranks writes only under it")
                }
                let relative = String(path.dropFirst(root.count)).drop { $0 == "/" }
                partitioned.stages[index].parameters.values[key] = .output(relative.isEmpty ? part : part.appendingPathComponent(String(relative)))
            }
        }
        // A dataset into a bucket gets a part prefix per rank, joined by `merge` in the bucket.
        for (index, remote) in bucketDatasets {
            partitioned.stages[index].parameters.values["path"] = .string(remote.appending(Self.partName(rank)).description)
        }
        // Stages that share a dataset by rank themselves get this rank: a WebDataset source reads
        // only its shards (not every shard, dropping the others' samples), a WebDataset writer
        // numbers its shards apart from the other ranks' (so their files merge, and a bucket
        // prefix takes them all).
        for index in partitioned.stages.indices where partitioned.stages[index].spec.sharesByRank {
            partitioned.stages[index].parameters.values["rank"] = .int(rank)
            partitioned.stages[index].parameters.values["world_size"] = .int(size)
        }
        if partitioned.stages.first?.spec.sharesByRank == true { return partitioned }
        let split = PipelinePlan.Stage(
            name: "rank_split", spec: Self.splitSpec, parameters: StageParameters(stageName: "rank_split", values: ["rank": .int(rank), "world_size": .int(size)]),
            workers: 1, ordered: true, line: plan.stages.first?.line ?? 0)
        partitioned.stages.insert(split, at: 1)
        return partitioned
    }

    /// The shard writers into a bucket, by stage position, with their `s3://` prefixes.
    var bucketDatasets: [(stage: Int, remote: ObjectURL)] {
        plan.stages.indices.compactMap { index in
            guard plan.stages[index].spec.type == "shard_writer", let remote = ObjectURL(plan.stages[index].parameters.string("path")) else { return nil }
            return (index, remote)
        }
    }

    /// Keeps item `n` of the source when `n % world_size == rank`.
    static let splitSpec = StageSpec(
        type: "rank_split", role: .stage, summary: "this rank's items of the source (added by multi-rank runs)",
        parameters: [ParameterSpec("rank", .int(min: 0), help: ""), ParameterSpec("world_size", .int(min: 1), help: "")]
    ) { parameters, _ in
        .transform(RankSplit(rank: parameters.int("rank"), size: parameters.int("world_size")))
    }

    struct RankSplit: Transform {
        let rank: Int, size: Int
        var seen = 0
        mutating func process(_ item: Sample, into output: inout [Sample]) throws {
            if seen % size == rank { output.append(item) }
            seen += 1
        }
    }

    // MARK: Merging (rank 0, after every rank has finished)

    /// Joins the ranks' parts into the output directory; returns the merged manifest.
    @discardableResult
    public func merge() throws -> URL {
        let root = plan.outputDirectory
        let parts = (0..<size).map { root.appendingPathComponent(Self.partName($0)) }
        try plan.records.prepare()
        var manifests: [[String: Any]] = []
        for (rank, part) in parts.enumerated() {
            let file = part.appendingPathComponent("manifest.json")
            guard let data = FileManager.default.contents(atPath: file.path),
                  let manifest = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { throw PlanError(.unfinishedPart, path: file.path, "rank \(rank) left no readable manifest: it did not finish") }
            manifests.append(manifest)
        }
        // Every file any rank wrote (a rank with no items of some kind has none of those files).
        let files = try parts.map { try relativeFiles(under: $0) }
        let items = Array(Set(files.joined())).sorted()
        let datasets = items.filter { $0 == DatasetIndex.fileName || $0.hasSuffix("/" + DatasetIndex.fileName) }
            .map { String($0.dropLast(DatasetIndex.fileName.count + ($0 == DatasetIndex.fileName ? 0 : 1))) }
        for dataset in datasets {
            let target = dataset.isEmpty ? root : root.appendingPathComponent(dataset)
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            for (rank, part) in parts.enumerated() {
                try replace(target.appendingPathComponent(Self.partName(rank)), with: dataset.isEmpty ? part : part.appendingPathComponent(dataset))
            }
            try DatasetIndex.merge(parts: parts.indices.map(Self.partName), into: target)
        }
        for item in items where item != "manifest.json" && !datasets.contains(where: { $0.isEmpty || item.hasPrefix($0 + "/") }) {
            let target = item == "quarantine.jsonl" ? plan.records.localFile(plan.records.quarantine) : root.appendingPathComponent(item)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            let present = parts.map { $0.appendingPathComponent(item) }.filter { FileManager.default.fileExists(atPath: $0.path) }
            if item.hasSuffix(".jsonl") {
                try concatenate(present, into: target)
            } else {
                guard present.count == 1 else { throw PlanError(.collidingParts, path: item, "\(present.count) ranks wrote it: outputs other than JSON lines and shards must differ between items") }
                try replace(target, with: present[0])
            }
        }
        for (_, remote) in bucketDatasets {
            let staging = root.appendingPathComponent(".cache/s3-merge/\(remote.bucket)/\(remote.key)")
            try DatasetIndex.merge(parts: parts.indices.map(Self.partName), in: remote, client: S3Client(), staging: staging)
        }
        try writeManifest(manifests)
        try plan.records.publish()
        return plan.records.keptFile(plan.records.manifest)
    }

    /// One manifest for the job: the first rank's description of the run, every rank's inputs
    /// and quarantined items (an item the source itself skipped is listed once), the ranks' counts.
    private func writeManifest(_ manifests: [[String: Any]]) throws {
        var merged = manifests[0]
        var inputs: [Any] = [], quarantined: [Any] = [], seen = Set<String>()
        for manifest in manifests {
            for entry in manifest["inputs"] as? [Any] ?? [] {
                let key = String(decoding: try JSONSerialization.data(withJSONObject: entry, options: .sortedKeys), as: UTF8.self)
                if seen.insert("input " + key).inserted { inputs.append(entry) }
            }
            for entry in manifest["quarantined"] as? [Any] ?? [] {
                let key = String(decoding: try JSONSerialization.data(withJSONObject: entry, options: .sortedKeys), as: UTF8.self)
                if seen.insert("quarantined " + key).inserted { quarantined.append(entry) }
            }
        }
        merged["inputs"] = inputs
        merged["quarantined"] = quarantined
        merged["ranks"] = manifests.enumerated().map { rank, manifest in
            ["rank": rank, "manifest": Self.partName(rank) + "/manifest.json", "completion": manifest["completion"] ?? "",
             "elapsed_seconds": manifest["elapsed_seconds"] ?? 0, "stages": manifest["stages"] ?? []] as [String: Any]
        }
        merged["started"] = manifests.compactMap { $0["started"] as? String }.min() ?? ""
        merged["finished"] = manifests.compactMap { $0["finished"] as? String }.max() ?? ""
        merged["elapsed_seconds"] = manifests.compactMap { $0["elapsed_seconds"] as? Double }.max() ?? 0
        merged.removeValue(forKey: "stages")
        if !quarantined.isEmpty { merged["quarantine_file"] = plan.records.quarantine.description }
        try JSONSerialization.data(withJSONObject: merged, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            .write(to: plan.records.localFile(plan.records.manifest), options: .atomic)
    }

    /// Files under `directory` (but not its `.cache`), relative to it, sorted.
    private func relativeFiles(under directory: URL) throws -> [String] {
        let base = directory.standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(atPath: base) else { return [] }
        var files: [String] = []
        while let item = walker.nextObject() as? String {
            // Downloads and upload staging are the rank's own, not output to merge.
            if item == ".cache" { walker.skipDescendants(); continue }
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: base + "/" + item, isDirectory: &isDirectory), !isDirectory.boolValue { files.append(item) }
        }
        return files.sorted()
    }

    /// Moves `source` to `target`, replacing what an earlier run of this job left there.
    private func replace(_ target: URL, with source: URL) throws {
        if FileManager.default.fileExists(atPath: target.path) { try FileManager.default.removeItem(at: target) }
        try FileManager.default.moveItem(at: source, to: target)
    }

    /// `parts` joined in order into `target`, written to `.partial` and renamed;
    /// the parts are removed once the whole file is in place.
    private func concatenate(_ parts: [URL], into target: URL) throws {
        let partial = URL(fileURLWithPath: target.path + ".partial")
        FileManager.default.createFile(atPath: partial.path, contents: nil)
        let out = try FileHandle(forWritingTo: partial)
        for part in parts {
            let input = try FileHandle(forReadingFrom: part)
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty { try out.write(contentsOf: chunk) }
            try input.close()
        }
        try out.close()
        if FileManager.default.fileExists(atPath: target.path) { try FileManager.default.removeItem(at: target) }
        try FileManager.default.moveItem(at: partial, to: target)
        for part in parts { try FileManager.default.removeItem(at: part) }
    }
}
