import Foundation
import Testing
import WebDataset

/// Reading shards: against what the webdataset package yields, and on shards a reader must not trust.
struct ReadingTests {
    @Test func shardsTheWebdatasetPackageWroteReadAsThePackageReadsThem() throws {
        var digests: [Digest] = []
        for shard in try Fixture.shards("python-written") {
            let read = events(of: shard)
            #expect(read.failure == nil)
            #expect(read.events.compactMap(\.rejection) == [])
            digests += read.events.compactMap(\.sample).map { Digest($0, shard: shard.lastPathComponent) }
        }
        #expect(digests == (try Fixture.pythonRead("python-written")))
    }

    @Test func aGzipShardReadsAsTheTarInside() throws {
        let packed = events(of: Fixture.url("shard-000001.tar.gz"))
        let plain = events(of: Fixture.url("python-written/shard-000001.tar"))
        #expect(packed.failure == nil)
        #expect(packed.events == plain.events)
        #expect(packed.events.count == 7)
    }

    @Test func aGzipShardWithDamagedDataFailsNamingTheShard() throws {
        let scratch = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        var bytes = Array(try Data(contentsOf: Fixture.url("shard-000001.tar.gz")))
        for index in stride(from: 300, to: 340, by: 3) { bytes[index] ^= 0x5A }
        let damaged = scratch.appendingPathComponent("damaged.tar.gz")
        try Data(bytes).write(to: damaged)
        let read = events(of: damaged)
        let failure = try #require(read.failure)
        #expect(failure.path == "damaged.tar.gz")
        #expect([.damaged, .truncated].contains(failure.code))
    }

    /// The tar inside ends at its end-of-archive blocks, before the gzip trailer: libarchive does
    /// not read on to check the trailer's CRC, so a trailer damaged alone goes unnoticed, and the
    /// samples, whose bytes are intact, are read whole.
    @Test func aGzipShardWithOnlyItsTrailerDamagedReadsWhole() throws {
        let scratch = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        var bytes = Array(try Data(contentsOf: Fixture.url("shard-000001.tar.gz")))
        bytes[bytes.count - 6] ^= 0xFF  // the CRC-32 of the trailer
        let damaged = scratch.appendingPathComponent("trailer.tar.gz")
        try Data(bytes).write(to: damaged)
        #expect(events(of: damaged).events == events(of: Fixture.url("shard-000001.tar.gz")).events)
    }

    @Test func aCutShardGivesTheSamplesBeforeTheCutAndNamesIt() throws {
        let scratch = Fixture.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let whole = events(of: Fixture.url("python-written/shard-000000.tar")).events
        let cut = scratch.appendingPathComponent("cut.tar")
        try Data(try Data(contentsOf: Fixture.url("python-written/shard-000000.tar")).prefix(30_000)).write(to: cut)
        let read = events(of: cut)
        let failure = try #require(read.failure)
        #expect(failure.code == .truncated)
        let samples = read.events.compactMap(\.sample)
        #expect(!samples.isEmpty && samples.count < whole.count)
        #expect(samples == Array(whole.compactMap(\.sample).prefix(samples.count)))
        // The sample the cut fell in is accounted for, not passed on with members missing.
        #expect(read.events.last?.rejection?.reason.contains("cut short") == true)
    }

    @Test func namesThatCannotBeFieldsAreRejectedOneByOneAndTheRestRead() throws {
        let read = events(of: Fixture.url("hostile/names.tar"))
        #expect(read.failure == nil)
        let samples = read.events.compactMap(\.sample).map { ($0.key, $0.fields.map(\.name), $0.fields.map { String(decoding: $0.bytes, as: UTF8.self) }) }
        #expect(samples.map(\.0) == ["good0", "good1", "good2", "good3"])
        #expect(samples.map(\.2) == [["kept"], ["first"], ["two"], [""]])
        let rejected = read.events.compactMap(\.rejection).map { ($0.member ?? "", $0.code) }
        #expect(rejected.map(\.0) == ["../escape.txt", "/etc/absolute.txt", "caf\u{FFFD}.txt", "noextension", "link.txt", "good1.txt", "good1"])
        #expect(rejected.map(\.1) == [.badName, .badName, .badName, .badName, .badName, .duplicate, .duplicate])
    }

    @Test func aMemberLargerThanTheArchiveEndsTheShardWithoutTakingItsSize() throws {
        let read = events(of: Fixture.url("hostile/oversized.tar"))
        #expect(read.events.compactMap(\.sample).map(\.key) == ["before"])
        let failure = try #require(read.failure)
        #expect(failure.code == .truncated)
        #expect(failure.member == "big.bin")
    }

    @Test func aMemberAboveTheLimitIsRejectedBeforeItIsRead() throws {
        let read = events(of: Fixture.url("python-written/shard-000001.tar"), maximumMemberBytes: 500)
        let tooLarge = read.events.compactMap(\.rejection).filter { $0.code == .tooLarge }
        #expect(tooLarge.map(\.member) == ["sample0009.bin", "sample0010.bin", "sample0011.bin"])
        #expect(read.events.compactMap(\.sample).count == 7)
    }

    @Test func aStreamedShardReadsAsTheFileItCameFrom() throws {
        let file = Fixture.url("python-written/shard-000000.tar")
        let bytes = try Data(contentsOf: file)
        // Small blocks and a short queue, so the transfer waits on the reader many times.
        let streamed = StreamedShardBytes(path: "memory", blockSize: 700, capacity: 2) { receive in
            var offset = 0
            while offset < bytes.count {
                let end = min(bytes.count, offset + 333)
                guard bytes[offset..<end].withUnsafeBytes(receive) else { return }
                offset = end
            }
        }
        let samples = ShardSamples(try TarReader(streamed, path: "memory"), maximumMemberBytes: 1 << 20)
        var read: [ShardSamples.Event] = []
        while let event = try samples.next() { read.append(event) }
        #expect(read == (events(of: file)).events)
    }

    @Test func aTransferThatFailsEndsTheShardWithItsError() throws {
        struct Refused: Error, CustomStringConvertible { var description: String { "connection refused" } }
        let streamed = StreamedShardBytes(path: "https://example.invalid/a.tar") { _ in throw Refused() }
        #expect {
            _ = try TarReader(streamed, path: "https://example.invalid/a.tar")
        } throws: { error in
            (error as? WebDatasetError)?.code == .unreadable && "\(error)".contains("connection refused")
        }
    }

    @Test func aReaderClosedEarlyStopsItsTransfer() throws {
        let file = Fixture.url("python-written/shard-000000.tar")
        let bytes = try Data(contentsOf: file)
        let stopped = Stopped()
        do {
            let streamed = StreamedShardBytes(path: "memory", blockSize: 512, capacity: 1) { receive in
                var offset = 0
                while offset < bytes.count {
                    guard bytes[offset..<min(bytes.count, offset + 512)].withUnsafeBytes(receive) else {
                        stopped.set()
                        return
                    }
                    offset += 512
                }
            }
            let samples = ShardSamples(try TarReader(streamed, path: "memory"), maximumMemberBytes: 1 << 20)
            _ = try samples.next()
        }
        // The reader is gone: closing waited for the transfer, which was told to stop.
        #expect(stopped.value)
    }
}

final class Stopped: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.withLock { flag = true } }
    var value: Bool { lock.withLock { flag } }
}
