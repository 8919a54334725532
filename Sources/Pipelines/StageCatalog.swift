import Foundation
import PipelineCore

/// The stage kinds pipeline files can name. Each domain adds its kinds in Stages/.
public struct StageCatalog: Sendable {
    public let all: [StageSpec]

    public init(_ specs: [StageSpec]) { all = specs }

    /// Every stage kind sluice ships.
    public static let standard = StageCatalog(
        FileStages.specs + BatchStages.specs + MediaStages.specs + NPYStages.specs + ShardStages.specs + WebDatasetStages.specs + TextStages.specs
            + RetroMAEStages.specs + FeatureStages.specs + AugmentStages.specs + ClipStages.specs + SpokenMomentsStages.specs + CapsuleStages.specs)

    public func spec(_ type: String) -> StageSpec? { all.first { $0.type == type } }

    public func specs(role: StageSpec.Role) -> [StageSpec] { all.filter { $0.role == role } }

}

extension PipelinePlan {
    /// Assembles the engine pipeline: the source, each stage, then the sink.
    public func build(in environment: RunEnvironment) throws -> Pipeline {
        let pipeline = Pipeline(name: name, options: options)
        guard let first = stages.first, case let .source(source) = try first.spec.make(first.parameters, environment)
        else { throw PlanError(.invalidStructure, "the first stage must be a source") }
        environment.didBuild(first)
        var stream = pipeline.source(first.name, ReportingUnusable(unusable: first.parameters.unusableInputs, source: source))
        for stage in stages.dropFirst() {
            defer { environment.didBuild(stage) }
            switch try stage.spec.make(stage.parameters, environment) {
            case let .map(function):
                stream = stream.flatMap(stage.name, workers: stage.workers, ordered: stage.ordered, function)
            case let .transform(transform):
                stream = stream.transform(stage.name, transform)
            case let .sink(sink):
                return stream.sink(stage.name, sink)
            case .source:
                throw PlanError(.invalidStructure, stage: stage.name, "a source in the middle of the pipeline")
            }
        }
        throw PlanError(.invalidStructure, "the pipeline has no sink")
    }
}

/// A source whose directories and globs turned up entries it cannot read (a name that is not
/// UTF-8, a symbolic link loop, ...): each is quarantined (or, under `fail`, stops the run) before
/// the source starts, so no input is left out without a word.
struct ReportingUnusable: Source {
    let unusable: [UnusableInput]
    var source: any Source<Sample>

    mutating func run(_ emitter: Emitter<Sample>) throws {
        for entry in unusable { try emitter.skip(item: entry.path, reason: entry.reason, failure: entry.failure) }
        try source.run(emitter)
    }
}
