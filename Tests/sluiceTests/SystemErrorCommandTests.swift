import Foundation
import Testing

/// A small tmpfs the test mounts and unmounts itself: a full disk and a read-only file system
/// without touching the machine's own disks. Mounting needs root (CAP_SYS_ADMIN), so the tests
/// that use one are skipped where it is refused.
struct Tmpfs {
    let directory: URL

    /// Whether this process may mount a tmpfs: tried once on a scratch directory.
    static let permitted: Bool = {
        guard let probe = try? Tmpfs(size: "64k") else { return false }
        probe.unmount()
        return true
    }()

    static let skipReason: Comment = "mounting a tmpfs needs root (CAP_SYS_ADMIN); the full-disk and read-only cases cannot be made here"

    /// Mounts a tmpfs of `size` (`mount -o size=`) on a new directory.
    init(size: String) throws {
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-tmpfs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        guard Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", directory.path]) else {
            try? FileManager.default.removeItem(at: directory)
            throw CocoaError(.featureUnsupported)
        }
    }

    /// Makes the file system read-only (what a read-only bind or a remount gives; chmod does not stop root).
    func remountReadOnly() -> Bool { Self.run("/bin/mount", ["-o", "remount,ro", directory.path]) }

    func unmount() {
        _ = Self.run("/bin/umount", [directory.path])
        try? FileManager.default.removeItem(at: directory)
    }

    private static func run(_ tool: String, _ arguments: [String]) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}

/// Errors of the system while writing outputs reach the user in plain words with the file:
/// never Foundation's `Error Domain=NSCocoaErrorDomain Code=640 ...`, never only `manifest.json`.
extension CommandLineTests {
    /// Shards of decoded frames into 256 KiB: the fourth shard fills the disk. The run fails
    /// (exit 74) naming that shard and the full disk first; the manifest, which cannot be written
    /// either, comes after.
    @Test(.enabled(if: Tmpfs.permitted, Tmpfs.skipReason))
    func aFullDiskNamesTheShardThatFilledIt() throws {
        let disk = try Tmpfs(size: "256k")
        defer { disk.unmount() }
        let pipeline = disk.directory.appendingPathComponent("full.yaml")
        let out = disk.directory.appendingPathComponent("out")
        let yaml = """
            name: full
            output: \(out.path)
            source: {type: files, paths: samples/shapes/video}
            stages:
              - {type: video_frames, field: path, count: 2}
            sink:
              type: shard_writer
              path: dataset
              columns: ["path:str", "frames:ndarray:uint8"]
              size_limit: 100000
            """
        try yaml.write(to: pipeline, atomically: true, encoding: .utf8)
        let result = try sluice(["run", pipeline.path, "--quiet"])
        #expect(result.status == 74)
        let shard = try #require(result.errors.range(of: #"shard\.\d{5}\.mds(\.partial)?: cannot write: the disk is full \(ENOSPC\)"#,
                                                     options: .regularExpression), "\(result.errors)")
        #expect(result.errors[..<shard.lowerBound].contains(out.appendingPathComponent("dataset").path))
        if let manifest = result.errors.range(of: "manifest.json") { #expect(manifest.lowerBound > shard.lowerBound) }
        #expect(!result.errors.contains("NSCocoaErrorDomain") && !result.errors.contains("Error Domain"))
    }

    /// A JSON lines sink on a read-only file system: the file and EROFS, exit 74.
    @Test(.enabled(if: Tmpfs.permitted, Tmpfs.skipReason))
    func aReadOnlyFileSystemIsSaidSo() throws {
        let disk = try Tmpfs(size: "64k")
        defer { disk.unmount() }
        let out = disk.directory.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let pipeline = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-ro-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: pipeline) }
        try "name: ro\noutput: \(out.path)\nsource: {type: files, paths: samples/smoke}\nsink: {type: jsonl, path: sums.jsonl}\n"
            .write(to: pipeline, atomically: true, encoding: .utf8)
        #expect(disk.remountReadOnly())
        let result = try sluice(["run", pipeline.path, "--quiet"])
        #expect(result.status == 74)
        #expect(result.errors.contains("\(out.path)/sums.jsonl.partial: cannot create the output file: the file system is read-only (EROFS)"),
                "\(result.errors)")
    }

    /// A trainer whose checkpoint does not fit: the checkpoint file and the full disk, exit 74.
    @Test(.enabled(if: Tmpfs.permitted, Tmpfs.skipReason))
    func aCheckpointOnAFullDiskIsNamed() throws {
        let disk = try Tmpfs(size: "256k")
        defer { disk.unmount() }
        let out = disk.directory.appendingPathComponent("out")
        let result = try sluice(Self.retromaeArguments(out: out, steps: 2))
        #expect(result.status == 74)
        #expect(result.errors.contains("\(out.path)/checkpoint.safetensors: cannot write the checkpoint: the disk is full (ENOSPC)"),
                "\(result.errors)")
    }

    /// `sluice tokenize --out` into 16 KiB: the .partial file and the full disk, exit 74 (an I/O
    /// failure, not a usage mistake).
    @Test(.enabled(if: Tmpfs.permitted, Tmpfs.skipReason))
    func tokenizingOntoAFullDiskNamesThePartialFile() throws {
        let disk = try Tmpfs(size: "16k")
        defer { disk.unmount() }
        let out = disk.directory.appendingPathComponent("ids.jsonl")
        let result = try sluice(["tokenize", "--tokenizer", "samples/retromae/vocab.txt", "--in", "samples/text/corpus.txt", "--out", out.path])
        #expect(result.status == 74)
        #expect(result.errors.contains("\(out.path).partial: cannot write: the disk is full (ENOSPC)"), "\(result.errors)")
    }

    /// `sluice frames --out` into a disk too small for the array: the .npy file and the full disk.
    @Test(.enabled(if: Tmpfs.permitted, Tmpfs.skipReason))
    func aNumpyFileOnAFullDiskIsNamed() throws {
        let disk = try Tmpfs(size: "64k")
        defer { disk.unmount() }
        let out = disk.directory.appendingPathComponent("frames.npy")
        let result = try sluice(["frames", "samples/shapes/video/shapes-00000.mp4", "--count", "8", "--out", out.path])
        #expect(result.status == 74)
        #expect(result.errors.contains("\(out.path): cannot write: the disk is full (ENOSPC)"), "\(result.errors)")
    }
}
