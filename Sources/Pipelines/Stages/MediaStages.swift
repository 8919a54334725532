import Foundation
import Media
import ObjectStore
import PipelineCore
import Tensor
import Training

/// Stages over media: a JSONL manifest of clips, video frames, still images, audio waveforms,
/// log-mel features. Media fields hold a path or the encoded bytes of a file (a WebDataset
/// member). Decoding errors name the item and the file, so under `on_error: skip` bad clips are
/// quarantined and the run goes on.
enum MediaStages {
    static let specs: [StageSpec] = [manifest, videoFrames, imageDecode, audioDecode, logMel]

    static let manifest = StageSpec(
        type: "manifest", role: .source,
        summary: "rows of a clip manifest, JSON lines or CSV/TSV ({id, video, audio, caption, split}); relative paths resolved against its directory",
        parameters: [
            ParameterSpec("path", .inputs(objects: true), required: true,
                          help: "the manifest file(s): one JSON object per line, or a .csv / .tsv file with a header row; "
                              + "s3://bucket/key or http(s)://host/path (relative clip paths in it come from there too)"),
            ParameterSpec("columns", .strings,
                          help: "COLUMN:FIELD renames, e.g. [clip:video, text:caption]; unmapped columns keep their names. CSV cells "
                              + "are text, but a cell written as a JSON number (140, -2.5, 1e3; not 007) outside id, video, audio, "
                              + "caption and split is a number, as in a JSON line; an empty cell is no field"),
            ParameterSpec("split", .string, help: "keep only rows whose `split` is this (train, test, ...)"),
            ParameterSpec("epochs", .int(min: 1, max: 1 << 20), default: "1", help: "passes over the rows (training while decoding)"),
            ParameterSpec("shuffle", .bool, default: "false", help: "a new seeded order of the rows each epoch"),
            ParameterSpec("seed", .int(min: 0), default: "0", help: "shuffle and mismatch: seed, mixed with the epoch"),
            ParameterSpec("mismatch", .double(min: 0, max: 1), default: "0",
                          help: "this share of the rows get another chosen row's spoken caption and caption text, the same rows every epoch "
                              + "(noisy pairs, as the capsule paper's noise 0.2)"),
        ]
    ) { parameters, environment in
        let columns: [String: String]
        switch ManifestRows.columnMap(parameters.strings("columns")) {
        case .success(let map): columns = map
        case .failure(let error): throw PlanError(stage: parameters.stageName, error.description)
        }
        return .source(ManifestSource(urls: parameters.inputs("path"), columns: columns, split: parameters.optionalString("split"),
                                      log: environment.inputs, objects: ObjectInputs(outputDirectory: environment.outputDirectory),
                                      epochs: parameters.int("epochs"),
                                      shuffleSeed: parameters.bool("shuffle") ? UInt64(parameters.int("seed")) : nil,
                                      mismatch: parameters.double("mismatch"), mismatchSeed: UInt64(parameters.int("seed")),
                                      resumeAt: { environment.sourceResumePoint }))
    }

    static let videoFrames = StageSpec(
        type: "video_frames", role: .stage,
        summary: "decodes selected frames of the video at `field` into `output` (uint8 N x H x W x 3 or float32 N x 3 x H x W)",
        parameters: [
            ParameterSpec("field", .string, default: "video",
                          help: "the field holding the video: a path, or the encoded file's bytes (a WebDataset mp4 member)"),
            ParameterSpec("output", .string, default: "frames", help: "the field the frames go to"),
            ParameterSpec("select", .choice(["all", "uniform", "fps", "clip", "stride", "indices", "timestamps"]),
                          default: "uniform", help: "which frames: see count, fps, seconds, stride, indices, timestamps"),
            ParameterSpec("count", .int(min: 1), default: "8", help: "uniform: how many frames, evenly spread"),
            ParameterSpec("jitter", .bool, default: "false",
                          help: "uniform: a random frame of each segment instead of its middle (seeded by `seed`, the item and its epoch)"),
            ParameterSpec("fps", .double(min: 0.001), default: "1", help: "fps: frames per second to resample to"),
            ParameterSpec("seconds", .double(min: 0.001), default: "1", help: "clip: length of the random window"),
            ParameterSpec("seed", .int(), default: "0", help: "clip and jitter: seed, mixed with each item's id and epoch"),
            ParameterSpec("stride", .int(min: 1), default: "2", help: "stride: every n-th frame"),
            ParameterSpec("indices", .strings, help: "indices: frame numbers"),
            ParameterSpec("timestamps", .strings, help: "timestamps: seconds from the start; the first frame at or after each, as ffmpeg -ss picks"),
        ] + PictureOptions.parameters(of: "the video's own") + [
            ParameterSpec("autorotate", .bool, default: "true",
                          help: "turn pictures upright as the display matrix asks, as the ffmpeg CLI does"),
            ParameterSpec("threads", .int(min: 0, max: 64), default: "1", help: "decoder threads per worker (0: auto)"),
            ParameterSpec("seek", .choice(SeekMode.allCases.map(\.rawValue)), default: SeekMode.exact.rawValue,
                          help: "exact: the frames asked for; approximate: the keyframe nearest each (faster; drifts by up to half the gap between keyframes, more after the last one)"),
        ],
        parallel: true
    ) { parameters, _ in
        let field = parameters.string("field"), output = parameters.string("output")
        let pictures = try PictureOptions(parameters, autorotate: parameters.bool("autorotate"))
        let threads = parameters.int("threads")
        let selection = try frameSelection(parameters)
        let seek = SeekMode(rawValue: parameters.string("seek")) ?? .exact
        return .map { sample in
            let source = try mediaSource(field, of: sample)
            var out = sample
            do {
                let frames = try VideoReader(source, threads: threads).frames(selection(sample), output: pictures.output, seek: seek)
                out[output] = .array(pictures.array(frames))
            } catch {
                throw StageError(path: sample.origin, reason: "\(error)")
            }
            return [out]
        }
    }

    static let imageDecode = StageSpec(
        type: "image_decode", role: .stage,
        summary: "decodes the JPEG, PNG or WebP at `field` into `output` as a one-frame clip, as video_frames gives one "
            + "(uint8 1 x H x W x 3 or float32 1 x 3 x H x W): grey, palette, alpha (dropped) and 16-bit pictures become 8-bit RGB "
            + "as with ffmpeg -pix_fmt rgb24; EXIF orientation is not applied",
        parameters: [
            ParameterSpec("field", .string, default: "jpg",
                          help: "the field holding the image: a path, or the encoded file's bytes (a WebDataset jpg, png or webp member)"),
            ParameterSpec("output", .string, default: "frames", help: "the field the picture goes to"),
        ] + PictureOptions.parameters(of: "the image's own"),
        parallel: true
    ) { parameters, _ in
        let field = parameters.string("field"), output = parameters.string("output")
        let pictures = try PictureOptions(parameters, autorotate: false)
        return .map { sample in
            let source = try mediaSource(field, of: sample)
            var out = sample
            do {
                out[output] = .array(pictures.array(try ImageReader.decode(source, output: pictures.output)))
            } catch {
                throw StageError(path: sample.origin, reason: "\(error)")
            }
            return [out]
        }
    }

    static let audioDecode = StageSpec(
        type: "audio_decode", role: .stage,
        summary: "decodes the audio at `field` (audio files or video tracks) to a float32 waveform in `output`",
        parameters: [
            ParameterSpec("field", .string, default: "audio",
                          help: "the field holding the audio (or video): a path, or the encoded file's bytes (a WebDataset flac, wav or mp4 "
                              + "member; libsndfile reads bytes whose field is a sound-file extension, FFmpeg the others)"),
            ParameterSpec("fallback", .string,
                          help: "the field read when `field` is absent (video: a clip's own track when it has no caption file)"),
            ParameterSpec("output", .string, default: "waveform", help: "the field the samples go to"),
            ParameterSpec("sample_rate", .int(min: 1, max: AudioBuffer.maximumSampleRate), default: String(MelOptions().sampleRate),
                          help: "resample to this rate (also written to `sample_rate`)"),
            ParameterSpec("mono", .bool, default: "true", help: "average the channels"),
            ParameterSpec("seconds", .double(min: 0.001, max: AudioBuffer.maximumSeconds), help: "crop or pad to exactly this length"),
            ParameterSpec("random_window", .bool, default: "false",
                          help: "crop a random window (seeded by `seed`, the item's id and its epoch) instead of the start"),
            ParameterSpec("seed", .int(), default: "0", help: "seed for the random window"),
        ],
        parallel: true
    ) { parameters, _ in
        let field = parameters.string("field"), output = parameters.string("output"), fallback = parameters.optionalString("fallback")
        let rate = parameters.int("sample_rate"), mono = parameters.bool("mono")
        let seconds = parameters.optionalDouble("seconds"), random = parameters.bool("random_window")
        let seed = UInt64(bitPattern: Int64(parameters.int("seed")))
        return .map { sample in
            let source = try mediaSource(sample[field] == nil ? fallback ?? field : field, of: sample)
            var out = sample
            do {
                var audio = try AudioReader.load(source, sampleRate: rate, mono: mono)
                if let seconds {
                    audio = try audio.fitted(toSeconds: seconds, seed: random ? sample.randomSeed(seed, stage: "audio_decode") : nil)
                }
                out[output] = .array(audio.ndarray)
                out["sample_rate"] = .int(rate)
            } catch {
                throw StageError(path: sample.origin, reason: "\(error)")
            }
            return [out]
        }
    }

    static let logMel = StageSpec(
        type: "log_mel", role: .stage,
        summary: "log-mel spectrogram (librosa melspectrogram + power_to_db) of the mono waveform in `field`",
        parameters: [
            ParameterSpec("field", .string, default: "waveform", help: "the float32 mono waveform; its rate is read from `sample_rate`"),
            ParameterSpec("output", .string, default: "mel", help: "the field the frames x mels spectrogram goes to"),
        ] + MelOptions.parameterSpecs(),
        parallel: true
    ) { parameters, _ in
        let field = parameters.string("field"), output = parameters.string("output")
        let configured = try MelOptions(parameters)
        // The rate comes with each waveform; checked here at the highest rate, so every other
        // option is reported before the run starts (fmax is checked again against each item's rate).
        var checked = configured
        checked.sampleRate = AudioBuffer.maximumSampleRate
        if let problem = checked.problem { throw PlanError(stage: parameters.stageName, "\(problem)") }
        let extractors = MelExtractorPool()
        return .map { sample in
            guard case let .array(waveform)? = sample[field], waveform.dtype == .float32, waveform.shape.count == 1 else {
                throw StageError(path: sample.itemDescription, reason: "no mono float32 waveform in '\(field)'")
            }
            guard case let .int(rate)? = sample["sample_rate"] else {
                throw StageError(path: sample.itemDescription, reason: "no 'sample_rate' field for the waveform")
            }
            var options = configured
            options.sampleRate = rate
            var out = sample
            do {
                out[output] = .array(try extractors.compute(waveform.values(as: Float.self), options: options).ndarray)
            } catch {
                throw StageError(path: sample.itemDescription, reason: "\(error)")
            }
            return [out]
        }
    }

    /// How decoded pictures become an array, as video_frames and image_decode share it: size,
    /// filter and element type.
    struct PictureOptions {
        let output: FrameOutput
        /// float32 CHW normalised by ImageNet mean/std instead of uint8 HWC.
        let normalised: Bool

        /// The parameters both stages take, written once; `native` names the size without `size`.
        static func parameters(of native: String) -> [ParameterSpec] {
            [
                ParameterSpec("size", .string, help: "WxH output size (default: \(native))"),
                ParameterSpec("resize", .choice(["exact", "shorter_side_crop"]), default: "exact",
                              help: "exact WxH, or scale the shorter side to `shorter_side` then centre-crop WxH"),
                ParameterSpec("shorter_side", .int(min: 1), default: "256", help: "shorter_side_crop: the scaled shorter side"),
                ParameterSpec("filter", .choice(ScaleFilter.allCases.map(\.rawValue)), default: "bicubic",
                              help: "libswscale resize filter"),
                ParameterSpec("format", .choice(["uint8", "float32"]), default: "uint8",
                              help: "uint8 RGB HWC, or float32 CHW normalised by ImageNet mean/std"),
            ]
        }

        /// The options the parameters ask for; a malformed size is a configuration error.
        init(_ parameters: StageParameters, autorotate: Bool) throws {
            var output = FrameOutput(filter: ScaleFilter(rawValue: parameters.string("filter")) ?? .bicubic, autorotate: autorotate)
            if let text = parameters.optionalString("size") {
                guard let (width, height) = FrameSize.dimensions(text) else {
                    throw PlanError(stage: parameters.stageName, "size '\(text)' is not WxH, e.g. 224x224")
                }
                output.size = parameters.string("resize") == "shorter_side_crop"
                    ? .shorterSideThenCrop(shorterSide: parameters.int("shorter_side"), width: width, height: height)
                    : .exact(width: width, height: height)
            }
            self.output = output
            normalised = parameters.string("format") == "float32"
        }

        /// The pictures as the stage's output array.
        func array(_ frames: FrameBatch) -> NDArray {
            normalised ? frames.normalizedNDArray() : frames.ndarray
        }
    }

    /// The selection for each item (a random clip's seed depends on the item).
    private static func frameSelection(_ parameters: StageParameters) throws -> @Sendable (Sample) -> FrameSelection {
        func numbers<T>(_ key: String, _ parse: (String) -> T?) throws -> [T] {
            try parameters.strings(key).map { text in
                guard let value = parse(text) else {
                    throw PlanError(stage: parameters.stageName, "'\(text)' in \(key) is not a number")
                }
                return value
            }
        }
        let seed = UInt64(bitPattern: Int64(parameters.int("seed"))), seconds = parameters.double("seconds")
        let fixed: FrameSelection
        switch parameters.string("select") {
        case "all": fixed = .all
        case "fps": fixed = .fps(parameters.double("fps"))
        case "stride": fixed = .stride(parameters.int("stride"))
        case "indices": fixed = .indices(try numbers("indices") { Int($0) })
        case "timestamps": fixed = .timestamps(try numbers("timestamps") { Double($0) })
        case "clip": return { .randomClip(seconds: seconds, seed: $0.randomSeed(seed, stage: "video_frames")) }
        default:
            let count = parameters.int("count")
            if parameters.bool("jitter") { return { .jittered(count: count, seed: $0.randomSeed(seed, stage: "video_frames")) } }
            fixed = .uniform(count: count)
        }
        return { _ in fixed }
    }

    /// The media at `field`: a path, or the encoded bytes of a file, named in errors (and, for
    /// audio, routed) as `ITEM.FIELD`: a WebDataset member's key and extension
    /// (`shard-000003.tar:clip0042` + `.flac`).
    private static func mediaSource(_ field: String, of sample: Sample) throws -> MediaSource {
        switch sample[field] {
        case .string(let path)?: return .file(path)
        case .bytes(let bytes)?: return .bytes(name: "\(sample.itemDescription).\(field)", bytes)
        default: throw StageError(path: sample.origin, reason: "no field '\(field)' holding a path or the bytes of a media file")
        }
    }
}

/// FNV-1a of the item's name: a per-item seed that is the same on every run and platform
/// (Swift's `hashValue` is randomised per process).
func stableHash(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    return hash
}

extension Sample {
    /// The seed of one stage's random draws for this item: `seed` mixed with the stage's type (so
    /// stages given one seed draw independently), the item's id and, from the second epoch on, its
    /// `epoch` (the manifest and shard sources set it when they read more than one), so a rerun or
    /// resume draws the same and every epoch draws anew.
    func randomSeed(_ seed: UInt64, stage: String) -> UInt64 {
        var mixed = seed ^ stableHash(stage + "/" + itemDescription)
        if case let .int(epoch)? = self["epoch"], epoch > 0 { mixed ^= UInt64(epoch) &* 0xD6E8_FEB8_6659_FD93 }
        return mixed
    }

    /// The sample's name with the manifest row or shard it came from (`clip-7 (clips.jsonl:8)`,
    /// `clip0042 (shard-000003.tar)`), so a clip that fails in any later stage is quarantined by
    /// file and line, or by shard and key.
    var origin: String {
        guard case let .string(place)? = self[ManifestSource.rowField] ?? self["__url__"] else { return itemDescription }
        return "\(itemDescription) (\(place))"
    }
}

/// Reads clip manifests (`ManifestRows`: JSON lines, or CSV/TSV with a header row), each row with
/// at least an `id`; `video` and `audio` paths are resolved against the manifest's directory (its
/// bucket prefix or URL for a remote one). A malformed row is reported (and, under `skip`,
/// quarantined) by file and line; every sample carries its row as `manifest_row`
/// (`file:line`). With `epochs`, the rows are read again (a seeded new order each epoch with a
/// `shuffleSeed`), each sample carrying its `epoch` (from 0) for the stages' random draws; a bad row
/// is reported in the first epoch the run reads only. Every sample carries its stream point, so a
/// resumed trainer's run begins where its checkpoint stopped (`resumeAt`). With `mismatch`, a
/// seeded share of the rows trade their `audio` (or the video's own track) and `caption` among
/// themselves, the same every epoch.
struct ManifestSource: Source {
    static let rowField = "manifest_row"
    let urls: [URL]
    var columns: [String: String] = [:]
    let split: String?
    let log: InputLog
    let objects: ObjectInputs
    var epochs = 1
    var shuffleSeed: UInt64?
    var mismatch = 0.0
    var mismatchSeed: UInt64 = 0
    /// Where a resumed run begins (rows before it were read by the run it continues); asked when
    /// the run starts, after the sinks are built.
    var resumeAt: @Sendable () -> StreamPoint? = { nil }

    /// One row of a manifest: where it is (`file:line`), what it holds, and the manifest's location.
    private struct Row {
        var item: String
        var row: ManifestRow
        var directory: URL
        var remote: Bool
    }

    func run(_ emitter: Emitter<Sample>) throws {
        var rows: [Row] = []
        for url in urls {
            let remote = ObjectInputs.remote(url)
            let name = remote?.description ?? url.relativePath
            let local: URL
            do { local = try remote.map { remote throws(ObjectStoreError) in try objects.localCopy(of: remote) } ?? url } catch {
                try emitter.skip(item: name, reason: "cannot read the manifest: \(error)", failure: error.failure)
                continue
            }
            let reader = ManifestRows(file: local, name: name, columns: columns).makeIterator()
            if let unreadable = reader.failure {
                try emitter.skip(item: unreadable.path, reason: unreadable.reason, failure: unreadable.failure)
                continue
            }
            log.record(local)
            let directory = url.deletingLastPathComponent()
            while let row = reader.next() {
                rows.append(Row(item: "\(name):\(row.line)", row: row, directory: directory, remote: remote != nil))
            }
        }
        let donors = mismatchedRows(rows)
        // Each sample carries how far the rows were read through it; a resumed run begins where
        // its checkpoint stopped, without reading (or decoding downstream) any earlier row again.
        let start = resumeAt() ?? StreamPoint(epoch: 0, position: 0), firstEpoch = min(start.epoch, epochs)
        if start > StreamPoint(epoch: 0, position: 0) {
            FileHandle.standardError.write(Data(("manifest: resuming at epoch \(start.epoch), row \(start.position) of its order "
                + "(the rows read before the checkpoint are not read again)\n").utf8))
        }
        for epoch in firstEpoch..<epochs {
            var order = Array(rows.indices)
            if let shuffleSeed {
                var rng = RandomGenerator(seed: shuffleSeed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
                order.shuffle(using: &rng)
            }
            for (position, index) in order.enumerated() where epoch > start.epoch || position >= start.position {
                guard var sample = try sample(of: rows[index], reporting: epoch == firstEpoch ? emitter : nil) else { continue }
                // A donor row that is bad (reported on its own) leaves the clip its own caption.
                if let donor = donors[index], let given = try self.sample(of: rows[donor], reporting: nil) {
                    sample["audio"] = given["audio"] ?? given["video"]
                    sample["caption"] = given["caption"]
                    sample["mismatched_with"] = given["id"]
                }
                if epochs > 1 { sample["epoch"] = .int(epoch) }
                sample.streamPoint = StreamPoint(epoch: epoch, position: position + 1)
                try emitter.emit(sample)
            }
        }
    }

    /// For each row, the row whose caption it is given (nil: its own): a seeded `mismatch` share of
    /// the rows of the split read, each handing its caption to the next of them in a cycle.
    private func mismatchedRows(_ rows: [Row]) -> [Int?] {
        var donors = [Int?](repeating: nil, count: rows.count)
        guard mismatch > 0 else { return donors }
        let read = rows.indices.filter { index in
            let fields = rows[index].row.fields
            return fields["id"]?.string != nil && (split == nil || fields["split"]?.string == split)
        }
        var rng = RandomGenerator(seed: mismatchSeed ^ 0x6D69_736D_6174_6368)
        let chosen = Array(read.shuffled(using: &rng).prefix(Int((mismatch * Double(read.count)).rounded())))
        guard chosen.count >= 2 else { return donors }
        for (position, row) in chosen.enumerated() { donors[row] = chosen[(position + 1) % chosen.count] }
        return donors
    }

    /// The sample of one row; nil when the row is left out (another split) or is bad (then
    /// reported to `emitter` when given).
    private func sample(of row: Row, reporting emitter: Emitter<Sample>?) throws -> Sample? {
        let (item, fields, directory) = (row.item, row.row.fields, row.directory)
        if let problem = row.row.problem {
            try emitter?.skip(item: item, reason: problem)
            return nil
        }
        guard let id = fields["id"]?.string else {
            try emitter?.skip(item: item, reason: "row has no string 'id'")
            return nil
        }
        if let split, fields["split"]?.string != split { return nil }
        var sample = Sample(["id": .string(id)])
        for key in ["video", "audio", "caption", "split"] {
            guard let value = fields[key]?.string else { continue }
            guard key == "video" || key == "audio" else {
                sample[key] = .string(value)
                continue
            }
            // A clip in a bucket or on the web (named by URL, or relative to a manifest there) is
            // decoded from a local copy.
            let isURL = ObjectURL.urlScheme(value) != nil
            guard isURL || row.remote && !value.hasPrefix("/") else {
                sample[key] = .string(value.hasPrefix("/") ? value : directory.appendingPathComponent(value).relativePath)
                continue
            }
            guard let clip = isURL ? ObjectInputs.remote(value) : ObjectInputs.remote(value, besideManifestIn: directory) else {
                try emitter?.skip(item: item, reason: "\(key): '\(value)' names no s3:// object or http(s):// URL that can be read")
                return nil
            }
            do { sample[key] = .string(try objects.localCopy(of: clip).path) } catch {
                try emitter?.skip(item: item, reason: "\(key): \(error)")
                return nil
            }
        }
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) where sample[key] == nil {
            switch value {
            case .string(let text): sample[key] = .string(text)
            case .int(let number): sample[key] = .int(number)
            case .double(let number): sample[key] = .double(number)
            }
        }
        sample[Self.rowField] = .string(item)
        return sample
    }
}
