import Foundation
import ObjectStore
import S3TestServer
import Testing

/// `sluice shards` on datasets in a bucket (SeaweedFS on 127.0.0.1): the reading commands stream
/// shards through the read-ahead cache, `merge` writes one index.json after checking every shard.
@Suite(.serialized, .enabled(if: !LocalS3Server.mayBeMissing, "SeaweedFS is not installed: run tools/install-s3-server.sh"))
struct ShardsBucketCommandTests {
    static let server = Result { try LocalS3Server(bucket: "sluice-cli") }
    let cli = CommandLineTests()

    /// The mosaicml-streaming fixture uploaded under `prefix`.
    func upload(_ fixture: String, to prefix: ObjectURL, _ server: LocalS3Server) throws {
        let directory = "\(CommandLineTests.repository.path)/\(ShardsCommandTests.fixtures)/\(fixture)"
        let client = server.client()
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            try client.upload(file: URL(fileURLWithPath: "\(directory)/\(name)"), to: prefix.appending(name))
        }
    }

    func shards(_ arguments: [String], _ server: LocalS3Server, cache: URL) throws -> CommandLineTests.Result {
        try cli.sluice(["shards"] + arguments + ["--cache", cache.path], environment: server.environment)
    }

    @Test func inspectCatAndVerifyStreamFromABucket() throws {
        let server = try Self.server.get()
        let tag = UUID().uuidString.prefix(6)
        let prefix = server.url("gz-\(tag)")
        try upload("python_gz", to: prefix, server)
        let scratch = try cli.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }

        let inspect = try shards(["inspect", prefix.description, "--shards"], server, cache: scratch.appendingPathComponent("a"))
        #expect(inspect.status == 0)
        #expect(inspect.output.contains("samples: 24 in 6 shard(s)"))
        let local = try cli.sluice(["shards", "cat", "\(ShardsCommandTests.fixtures)/python_gz", "--range", "3..<20"])
        let remote = try shards(["cat", prefix.description, "--range", "3..<20"], server, cache: scratch.appendingPathComponent("a"))
        #expect(remote.status == 0)
        #expect(remote.output == local.output)
        #expect(try shards(["verify", prefix.description], server, cache: scratch.appendingPathComponent("a")).output
            .contains("ok: 6 shard(s), 24 samples"))

        // A shard damaged in the bucket is caught by its hash on arrival (a fresh cache) and named.
        try server.client().put(Array(repeating: 7, count: 64), to: prefix.appending("shard.00002.mds.gz"))
        let damaged = try shards(["verify", prefix.description], server, cache: scratch.appendingPathComponent("b"))
        #expect(damaged.status == 65)
        #expect(damaged.output.contains("FAIL \(prefix.appending("shard.00002.mds.gz"))"))
        #expect(damaged.output.contains("1 of 6 shard(s) damaged"))

        let missing = try shards(["inspect", server.url("nothing-\(tag)").description], server, cache: scratch.appendingPathComponent("c"))
        #expect(missing.status == 74)
        #expect(missing.errors.contains("s3://\(server.bucket)/nothing-\(tag)/index.json"))
        #expect(missing.errors.contains("HTTP 404"))
    }

    @Test func mergeInABucketWritesOneIndexAfterCheckingEveryShard() throws {
        let server = try Self.server.get()
        let tag = UUID().uuidString.prefix(6)
        let root = server.url("merged-\(tag)")
        for part in ["a", "b"] { try upload("python_plain", to: root.appending(part), server) }
        let scratch = try cli.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let client = server.client()

        // A part's shard missing: refused, and no index is written.
        try client.delete(root.appending("b/shard.00004.mds"))
        let refused = try cli.sluice(["shards", "merge", root.description, "a", "b"], environment: server.environment)
        #expect(refused.status == 74)
        #expect(refused.errors.contains("\(root.appending("b/shard.00004.mds"))"))
        #expect(try !client.exists(root.appending("index.json")))

        try upload("python_plain", to: root.appending("b"), server)
        let merged = try cli.sluice(["shards", "merge", root.description, "a", "b"], environment: server.environment)
        #expect(merged.status == 0)
        #expect(merged.output.contains("merged 2 part(s): 12 shard(s), 48 samples"))
        #expect(try shards(["verify", root.description], server, cache: scratch).output.contains("ok: 12 shard(s), 48 samples"))
    }
}
