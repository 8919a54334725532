import Foundation
import PipelineCore
import Synchronization
import Training

/// A stage kind that pipeline files can name by `type`, with the parameters it accepts.
public struct StageSpec: Sendable {
    public enum Role: String, Sendable {
        case source, stage, sink
    }

    public var type: String
    public var role: Role
    /// One line for `sluice stages` and error hints.
    public var summary: String
    public var parameters: [ParameterSpec]
    /// Per-item stages that can run on several workers accept `workers` and `ordered`.
    public var parallel: Bool
    /// Its `rank` and `world_size` parameters share the work between ranks (a WebDataset source
    /// reads its shards, a writer numbers its own), so a multi-rank run sets them rather than
    /// splitting the source's items.
    public var sharesByRank: Bool
    /// What the files on disk show will stop the stage though its parameters are right (an input
    /// not written yet, an output path taken), for `validate` to say before a run; nil for a stage
    /// that can tell nothing before it runs.
    let obstacles: (@Sendable (StageParameters) -> [Obstacle])?
    let make: @Sendable (StageParameters, RunEnvironment) throws -> StageBody

    public init(type: String, role: Role, summary: String, parameters: [ParameterSpec], parallel: Bool = false,
                sharesByRank: Bool = false, obstacles: (@Sendable (StageParameters) -> [Obstacle])? = nil,
                make: @escaping @Sendable (StageParameters, RunEnvironment) throws -> StageBody) {
        self.type = type
        self.role = role
        self.summary = summary
        self.parameters = parameters
        self.parallel = parallel
        self.sharesByRank = sharesByRank
        self.obstacles = obstacles
        self.make = make
    }
}

/// What a stage kind builds for one run.
public enum StageBody {
    case source(any Source<Sample>)
    /// A stateless per-item function; runs on the stage's `workers`.
    case map(@Sendable (Sample) throws -> [Sample])
    case transform(any Transform<Sample, Sample>)
    case sink(any Sink<Sample>)
}

/// One parameter of a stage kind.
public struct ParameterSpec: Sendable {
    public enum Kind: Sendable, Equatable {
        case string, bool
        case int(min: Int = .min, max: Int = .max)
        case double(min: Double = -.infinity, max: Double = .infinity)
        case choice([String])
        /// One string or a list of strings.
        case strings
        /// Input files or directories, or glob patterns (`samples/**/*.wav`); each must match. With
        /// `objects`, also `s3://bucket/prefix`, listed when the run starts, and `http(s)://` URLs,
        /// each one file (read-only inputs: HTTP has no listing and no upload); without, a URL is refused.
        case inputs(objects: Bool)
        /// A file written under the pipeline's output directory; a URL is refused.
        case output
        /// A file or directory the stage opens itself, given to it as written (a list with `list`).
        /// With `objects`, also `s3://bucket/key` (not http(s): such a path may be written, or be a
        /// dataset directory, which HTTP cannot list); without, a URL is refused.
        case path(objects: Bool, list: Bool = false)
        /// `30s`, `500ms`, `2m`, or a number of seconds.
        case duration

        /// For a kind that names files: whether it takes `s3://` URLs too (`inputs` also http(s); a kind that does not
        /// refuses every URL before the run). nil for kinds that name no file.
        public var objects: Bool? {
            switch self {
            case .inputs(let objects), .path(let objects, _): objects
            case .output: false
            default: nil
            }
        }
    }

    public var name: String
    public var kind: Kind
    public var required: Bool
    /// The value used when the key is absent (as YAML text); nil when there is none.
    public var defaultValue: String?
    public var help: String

    public init(_ name: String, _ kind: Kind, required: Bool = false, default defaultValue: String? = nil,
                help: String) {
        self.name = name
        self.kind = kind
        self.required = required
        self.defaultValue = defaultValue
        self.help = help
    }
}

/// A checked parameter value.
public enum ParameterValue: Sendable, Equatable {
    case string(String), bool(Bool), int(Int), double(Double), strings([String])
    case inputs(InputPaths), output(URL), duration(Duration)
}

/// A stage's parameters after validation: typed, defaults filled in.
///
/// A parameter with a default (or a required one) always has a value once the file is checked, so
/// its accessor is not optional: `int("workers")`. One that may be left out is read with the
/// `optional` accessors: `optionalInt("max_length")`. Asking for an absent value the spec promised
/// is a bug in the stage, not in the file, and stops with the stage and key named.
public struct StageParameters: Sendable {
    public var stageName: String
    var values: [String: ParameterValue]

    public func optionalString(_ key: String) -> String? {
        if case let .string(value)? = values[key] { return value }
        return nil
    }
    public func optionalInt(_ key: String) -> Int? {
        if case let .int(value)? = values[key] { return value }
        return nil
    }
    public func optionalDouble(_ key: String) -> Double? {
        if case let .double(value)? = values[key] { return value }
        return nil
    }
    public func optionalOutput(_ key: String) -> URL? {
        if case let .output(value)? = values[key] { return value }
        return nil
    }
    public func optionalDuration(_ key: String) -> Duration? {
        if case let .duration(value)? = values[key] { return value }
        return nil
    }

    public func string(_ key: String) -> String { promised(optionalString(key), key) }
    public func int(_ key: String) -> Int { promised(optionalInt(key), key) }
    public func double(_ key: String) -> Double { promised(optionalDouble(key), key) }
    public func output(_ key: String) -> URL { promised(optionalOutput(key), key) }
    public func duration(_ key: String) -> Duration { promised(optionalDuration(key), key) }

    public func bool(_ key: String) -> Bool {
        if case let .bool(value)? = values[key] { return value }
        return false
    }
    public func strings(_ key: String) -> [String] {
        if case let .strings(value)? = values[key] { return value }
        return []
    }
    public func inputs(_ key: String) -> [URL] {
        if case let .inputs(value)? = values[key] { return value.files }
        return []
    }
    /// The entries of every `inputs` parameter's directories and globs that cannot be read.
    var unusableInputs: [UnusableInput] {
        values.sorted { $0.key < $1.key }.flatMap { _, value -> [UnusableInput] in
            if case let .inputs(found) = value { return found.unusable }
            return []
        }
    }

    private func promised<T>(_ value: T?, _ key: String) -> T {
        guard let value else { preconditionFailure("stage \(stageName): parameter '\(key)' has neither a default nor a value") }
        return value
    }
}

/// What stages of one run share: where output goes, the log of inputs for the manifest, and the
/// run's live counters once it has started (a trainer sink names the stage it waits on).
public final class RunEnvironment: Sendable {
    public let outputDirectory: URL
    public let inputs = InputLog()
    private let run = Mutex<PipelineRun?>(nil)
    private let ended = Atomic<Bool>(false)

    public init(outputDirectory: URL) { self.outputDirectory = outputDirectory }

    func attach(_ started: PipelineRun) {
        run.withLock { $0 = started }
        if ended.load(ordering: .relaxed) { started.endEarly() }
    }

    /// Ends the run as finished though the source has more (a sink that has all it needs).
    public func endRun() {
        ended.store(true, ordering: .relaxed)
        run.withLock { $0 }?.endEarly()
    }

    private let built = Mutex<[(type: String, parameters: StageParameters)]>([])

    /// The parameters of the nearest stage of `type` built before the one being built, so a stage
    /// can check what feeds it before the run starts (a trainer its caption window against `clip_batch`).
    public func upstream(_ type: String) -> StageParameters? { built.withLock { $0.last { $0.type == type }?.parameters } }

    func didBuild(_ stage: PipelinePlan.Stage) { built.withLock { $0.append((stage.spec.type, stage.parameters)) } }

    /// Every stage's counters now; nil before the run has started.
    public func snapshot() -> PipelineSnapshot? { run.withLock { $0 }?.snapshot() }

    private let resumePoint = Mutex<StreamPoint?>(nil)

    /// Asks the source to begin at `point`: a resumed trainer sink passes on where its checkpoint
    /// says the stream was read to (`TrainingRun.resumePoint`) as it is built, before the run
    /// starts, so a source that can seek does not read and decode again what was consumed.
    /// Sources that cannot seek start from the beginning, and the sink skips.
    public func resumeSource(at point: StreamPoint) { resumePoint.withLock { $0 = point } }

    /// Where the source is asked to begin (`resumeSource(at:)`); nil for a fresh run.
    public var sourceResumePoint: StreamPoint? { resumePoint.withLock { $0 } }

    private let partials = Mutex<[PartialOutput]>([])

    /// Notes a file a sink writes as `.partial`, so a run that does not finish can say where it is.
    func writing(_ output: PartialOutput) { partials.withLock { $0.append(output) } }

    /// The sinks' files still under their `.partial` name (none once the run has finished).
    public var leftPartial: [PartialOutput] {
        partials.withLock { $0 }.filter { FileManager.default.fileExists(atPath: $0.partial.path) }
    }
}

/// A file a sink writes under a temporary name and renames into place when the run finishes.
public struct PartialOutput: Sendable, Equatable {
    public var file: URL
    public var partial: URL
}

/// Input files a run read, with sizes and modification times, for the manifest.
public final class InputLog: @unchecked Sendable {
    public struct Entry: Codable, Sendable, Equatable {
        public var path: String
        public var bytes: Int
        public var modified: String
    }

    private let lock = NSLock()
    private var entries: [Entry] = []

    public func record(_ url: URL) {
        let file = InputFile(path: url.path)
        let bytes = file?.bytes ?? 0
        let modified = file.map { ISO8601DateFormatter().string(from: $0.modified) } ?? ""
        lock.withLock { entries.append(Entry(path: url.relativePath, bytes: bytes, modified: modified)) }
    }

    public var all: [Entry] { lock.withLock { entries } }
}
