import Dispatch
import Foundation
import Text

/// Release-build benchmark of the Text module, run by tools/bench-text.sh side by side with
/// Hugging Face `tokenizers` on the same corpus and vocabulary.
/// Usage: text-bench VOCAB CORPUS [THREADS]
let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    print("usage: text-bench VOCAB CORPUS [THREADS]")
    exit(2)
}
let loadStart = DispatchTime.now().uptimeNanoseconds
let tokenizer = try BertTokenizer(vocabFile: URL(fileURLWithPath: arguments[1]))
let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e9
let corpus = try String(contentsOfFile: arguments[2], encoding: .utf8)
let lines = corpus.split(separator: "\n").map(String.init)
let megabytes = Double(corpus.utf8.count) / 1_000_000
let threads = arguments.count > 3 ? Int(arguments[3]) ?? 2 : 2

/// CPU time of the calling thread: on a machine shared with other builds, wall time of a
/// single-threaded step overstates its cost; both are reported.
func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func seconds(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Encodes every line (ids, type ids, offsets), spread over `threads` threads; returns the token count.
func encodeAll(threads: Int) -> Int {
    let chunk = (lines.count + threads - 1) / threads
    nonisolated(unsafe) let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: threads)
    defer { counts.deallocate() }
    DispatchQueue.concurrentPerform(iterations: threads) { t in
        var n = 0
        for line in lines[min(lines.count, t * chunk)..<min(lines.count, (t + 1) * chunk)] {
            n &+= tokenizer.encode(line).count
        }
        counts[t] = n
    }
    return counts.reduce(0, +)
}

/// CPU time of the whole process (all threads), to tell contention from a busy machine.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

var tokens = 0
let cpu0 = processCPUSeconds()
let one = seconds { tokens = encodeAll(threads: 1) }
let cpu1 = processCPUSeconds()
let all = seconds { _ = encodeAll(threads: threads) }
let cpu2 = processCPUSeconds()
print(String(format: "sluice tokenize: %.1f MB, %d lines, %d tokens; tokenizer load %.0f ms", megabytes, lines.count,
             tokens, loadSeconds * 1000))
print(String(format: "sluice 1 thread: %.2f s, %.2f MB/s (CPU %.2f s)", one, megabytes / one, cpu1 - cpu0))
print(String(format: "sluice %d threads: %.2f s, %.2f MB/s (CPU %.2f s)", threads, all, megabytes / all, cpu2 - cpu1))

// RetroMAE collation of a 32 x 512 batch of packed blocks from the same corpus.
let packer = try BlockPacker(tokenizer: tokenizer, maxLength: 512)
var blocks: [[Int32]] = []
for line in lines where blocks.count < 32 {
    blocks += packer.pack(line + " " + line + " " + line).filter { $0.count == 510 }
}
var collator = RetroMAECollator(vocabulary: try MaskingVocabulary(tokenizer: tokenizer))
for (t, samples) in [(1, 256), (threads, 256), (threads, 128)] {
    collator.threads = t
    collator.maskSamples = samples
    _ = try collator.collate(Array(blocks.prefix(32)), seed: 0)
    var times: [Double] = []
    var cpu: [Double] = []
    for seed in 1...20 {
        var error: Error?
        let cpuStart = threadCPUSeconds()
        times.append(seconds { do { _ = try collator.collate(Array(blocks.prefix(32)), seed: UInt64(seed)) } catch let e { error = e } })
        cpu.append(threadCPUSeconds() - cpuStart)
        if let error { throw error }
    }
    times.sort()
    cpu.sort()
    let cpuNote = t == 1 ? String(format: " (CPU %.2f ms)", cpu[cpu.count / 2] * 1000) : ""
    print(String(format: "retromae collate %d x 512, %d decoder masks per sequence, %d thread(s): median %.2f ms%@",
                 min(32, blocks.count), samples, t, times[times.count / 2] * 1000, cpuNote))
}
