// Media benchmarks, release builds only; tools/bench-media.sh runs them side by side with the
// ffmpeg CLI and librosa and writes the ratios. Each mode prints one line of JSON.
//
//   media-bench decode FILE [S]       decode + scale every frame to 224x224 RGB, 1 decoder thread,
//                                     S scaler slice threads (default 1)
//   media-bench uniform FILE          8 uniformly spaced frames vs every frame (224x224)
//   media-bench workers N R FILE...   decode all FILEs (224x224) on 1 and on N threads, R rounds
//                                     alternating the two, best of each
//   media-bench mel WAV REPEATS [T] [P]  log-mel of WAV, best of REPEATS, one spectrogram split over
//                                     T threads (default 1); P: `speech` (the spoken-caption
//                                     defaults) or `whisper` (n_fft 400, Hann, 80 mels, no pre-emphasis)
//   media-bench memory FILE           decode every frame (native size), report peak RSS
//   media-bench leak ROUNDS FILE...   open + decode + close FILEs ROUNDS times, RSS along the way
//   media-bench sample FILE SIZE REPEATS I,J,... [--write OUT] [--approximate]
//                                     open + index + frames I,J,... at SIZE x SIZE (0: native) + close,
//                                     REPEATS times from a cold index cache (after one warm-up);
//                                     --write saves the last run's frames as raw rgb24 to OUT.
//                                     tools/clip_readers_bench.py runs it beside PyAV and decord
import Foundation
import Media
import Synchronization

let size = FrameOutput(size: .exact(width: 224, height: 224), filter: .bicubic)

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

func time(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try body()
    return seconds(clock.now - start)
}

/// Resident set size now, from /proc (Linux), in MB.
func residentMB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return -1 }
    return kb / 1024
}

/// Peak resident set size of this process so far, in MB.
func peakMB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// CPU seconds (user + system, all threads) this process has used so far.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
    return user + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
}

/// Decodes every frame of `path` at 224x224 with one decoder thread and `scalerThreads` scaler
/// threads; returns the frame count.
func decodeAll(_ path: String, scalerThreads: Int = 1) throws -> Int {
    var frames = 0
    var output = size
    output.scalerThreads = scalerThreads
    try VideoReader(path: path, threads: 1).forEachFrame(.all, output: output) { _, _ in frames += 1 }
    return frames
}

func emit(_ fields: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let mode = arguments.first else {
    FileHandle.standardError.write(Data("usage: media-bench decode|uniform|workers|mel|memory|leak|sample ...\n".utf8))
    exit(2)
}
do {
    switch mode {
    case "decode":
        var frames = 0
        let scalerThreads = arguments.count > 2 ? Int(arguments[2]) ?? 1 : 1
        let elapsed = try time { frames = try decodeAll(arguments[1], scalerThreads: scalerThreads) }
        emit(["mode": mode, "frames": frames, "seconds": elapsed, "fps": Double(frames) / elapsed])
    case "uniform":
        let path = arguments[1]
        _ = try VideoReader(path: path).index()  // both runs share the cached index, as in a pipeline
        let eight = try time { _ = try VideoReader(path: path, threads: 1).frames(.uniform(count: 8), output: size) }
        var frames = 0
        let all = try time { frames = try decodeAll(path) }
        emit(["mode": mode, "frames": frames, "uniform8Seconds": eight, "allSeconds": all, "speedup": all / eight])
    case "workers":
        let workers = Int(arguments[1]) ?? 2, rounds = max(1, Int(arguments[2]) ?? 3), files = Array(arguments[3...])
        let failures = Mutex(0)
        // Rounds alternate one worker and many, so a slow spell on a shared machine hits both
        // sides alike; each side's best round counts. CPU time is that round's.
        var one = (seconds: Double.infinity, cpu: 0.0), many = (seconds: Double.infinity, cpu: 0.0)
        for _ in 0..<rounds {
            let cpuStart = cpuSeconds()
            let alone = try time { for file in files { _ = try decodeAll(file) } }
            let cpuMiddle = cpuSeconds()
            let together = time {
                // Workers take the next file as they finish one, as a pipeline's workers take items.
                let next = Atomic(0)
                DispatchQueue.concurrentPerform(iterations: workers) { _ in
                    while case let file = next.add(1, ordering: .relaxed).oldValue, file < files.count {
                        do { _ = try decodeAll(files[file]) } catch { failures.withLock { $0 += 1 } }
                    }
                }
            }
            if alone < one.seconds { one = (alone, cpuMiddle - cpuStart) }
            if together < many.seconds { many = (together, cpuSeconds() - cpuMiddle) }
        }
        // Equal work on both sides, so a low speed-up with more CPU time means the cores slowed
        // each other (shared caches, memory, the host), not that the workers waited for each other.
        emit(["mode": mode, "files": files.count, "workers": workers, "rounds": rounds, "oneWorkerSeconds": one.seconds,
              "manyWorkersSeconds": many.seconds, "speedup": one.seconds / many.seconds, "failures": failures.withLock { $0 },
              "oneWorkerCPUSeconds": one.cpu, "manyWorkersCPUSeconds": many.cpu])
    case "mel":
        let audio = try AudioReader.load(path: arguments[1], sampleRate: 16000)
        let repeats = Int(arguments[2]) ?? 20
        let threads = arguments.count > 3 ? Int(arguments[3]) ?? 1 : 1
        var options = MelOptions()
        if arguments.count > 4, arguments[4] == "whisper" {
            options.fftSize = 400
            options.window = .hann
            options.melBins = 80
            options.minFrequency = 0
            options.preEmphasis = nil
        }
        let extractor = try MelExtractor(options: options, threads: threads)
        var times: [Double] = []
        for _ in 0..<repeats { times.append(try time { _ = try extractor.compute(audio) }) }
        times.sort()
        emit(["mode": mode, "threads": threads, "fftSize": options.fftSize, "audioSeconds": audio.seconds, "bestSeconds": times[0],
              "medianSeconds": times[times.count / 2]])
    case "memory":
        var frames = 0
        let elapsed = try time {
            try VideoReader(path: arguments[1], threads: 1).forEachFrame(.all) { _, _ in frames += 1 }
        }
        emit(["mode": mode, "frames": frames, "seconds": elapsed, "peakMB": peakMB()])
    case "leak":
        let rounds = Int(arguments[1]) ?? 1000, files = Array(arguments[2...])
        var samples: [String: Double] = [:]
        var errors = 0
        for round in 1...rounds {
            let file = files[round % files.count]
            do {
                _ = try VideoReader(path: file, threads: 1).frames(.uniform(count: 4), output: size)
            } catch { errors += 1 }
            if round == rounds / 10 || round == rounds / 2 || round == rounds { samples["rssMBAfter\(round)"] = residentMB() }
        }
        emit(["mode": mode, "rounds": rounds, "errors": errors].merging(samples) { a, _ in a })
    case "sample":
        let path = arguments[1], side = Int(arguments[2]) ?? 0, repeats = max(1, Int(arguments[3]) ?? 5)
        let numbers = arguments[4].split(separator: ",").compactMap { Int($0) }
        let flags = Array(arguments.dropFirst(5))
        let output = FrameOutput(size: side > 0 ? .exact(width: side, height: side) : .native)
        let seek: SeekMode = flags.contains("--approximate") ? .approximate : .exact
        var batch: FrameBatch?
        var times: [Double] = [], cpu: [Double] = [], opening: [Double] = [], indexing: [Double] = []
        for run in 0...repeats {
            VideoReader.forgetIndexes()  // each run indexes the file again, as a reader of a large dataset does
            let cpuStart = cpuSeconds()
            var opened = 0.0, indexed = 0.0
            let elapsed = try time {
                var reader: VideoReader?
                opened = try time { reader = try VideoReader(path: path, threads: 1) }
                guard let reader else { return }
                indexed = try time { _ = try reader.index() }
                batch = try reader.frames(.indices(numbers), output: output, seek: seek)
            }
            if run > 0 {  // run 0 warms the page cache
                times.append(elapsed)
                cpu.append(cpuSeconds() - cpuStart)
                opening.append(opened)
                indexing.append(indexed)
            }
        }
        if let at = flags.firstIndex(of: "--write"), at + 1 < flags.count, let batch {
            try Data(batch.pixels).write(to: URL(fileURLWithPath: flags[at + 1]))
        }
        times.sort()
        cpu.sort()
        opening.sort()
        indexing.sort()
        emit(["mode": mode, "medianSeconds": times[times.count / 2], "bestSeconds": times[0],
              "medianCPUSeconds": cpu[cpu.count / 2], "medianOpenSeconds": opening[opening.count / 2],
              "medianIndexSeconds": indexing[indexing.count / 2],
              "frames": batch?.frameNumbers ?? []])
    default:
        FileHandle.standardError.write(Data("media-bench: unknown mode \(mode)\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("media-bench: \(error)\n".utf8))
    exit(1)
}
