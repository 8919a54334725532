import Foundation
import WebDataset

/// Reads WebDataset shards the way a training loop does, for tools/bench-webdataset.sh, which runs
/// the webdataset package's `WebDataset(urls)` iteration on the same files beside it:
///
///   webdataset-bench read SHARD...   every sample in order, bytes untouched, on one thread
///
/// prints `sluice SAMPLES samples BYTES bytes SECONDS s SAMPLES/S samples/s`.

guard CommandLine.arguments.count > 2, CommandLine.arguments[1] == "read" else {
    FileHandle.standardError.write(Data("usage: webdataset-bench read SHARD...\n".utf8))
    exit(2)
}
let start = DispatchTime.now().uptimeNanoseconds
var (samples, bytes) = (0, 0)
do {
    for path in CommandLine.arguments.dropFirst(2) {
        let shard = ShardSamples(try TarReader(FileShardBytes(path: path), path: path), maximumMemberBytes: 1 << 30)
        while let event = try shard.next() {
            guard case .sample(let sample) = event else { throw WebDatasetError(.damaged, path: path, "\(event)") }
            samples += 1
            bytes += sample.fields.reduce(0) { $0 + $1.bytes.count }
        }
    }
} catch {
    FileHandle.standardError.write(Data("webdataset-bench: \(error)\n".utf8))
    exit(1)
}
let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
print(String(format: "sluice %d samples %d bytes %.3f s %.0f samples/s", samples, bytes, seconds, Double(samples) / seconds))
