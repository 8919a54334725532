import Foundation
import Models
import Tensor

/// A parameter group's settings: its own peak learning rate (the schedule's shape is shared), and
/// whether it is frozen (no gradient is computed for it and the optimizer leaves it alone).
public struct GroupSettings: Sendable, Equatable {
    public var learningRate: Float
    public var frozen = false

    public init(learningRate: Float, frozen: Bool = false) { (self.learningRate, self.frozen) = (learningRate, frozen) }
}

/// What one update did.
public struct StepReport: Sendable {
    /// Updates taken, this one included.
    public var step: Int
    /// The loss averaged over the update's micro-batches.
    public var loss: Float
    /// The model's named terms, averaged over the micro-batches.
    public var terms: [(name: String, value: Float)]
    public var accuracies: [(name: String, value: TokenAccuracy)]
    /// The rate of the first group that is not frozen.
    public var learningRate: Float
    /// Tokens or examples the micro-batches held.
    public var count: Int
    /// Global gradient norm before clipping (nil when clipping is off).
    public var gradientNorm: Float?
    /// Wall time of the update, and the part of it spent waiting for batches.
    public var seconds: Double = 0
    public var dataSeconds: Double = 0

    /// A term by name (`mlm`, `contrastive`).
    public subscript(term name: String) -> Float? { terms.first { $0.name == name }?.value }
    public subscript(accuracy name: String) -> TokenAccuracy? { accuracies.first { $0.name == name }?.value }
}

/// The training loop's arithmetic, the same for every model: one update from micro-batches with
/// gradient accumulation, the replicas' reduction, clipping, a per-group learning rate on a shared
/// schedule, the optimizer; and checkpoints of all of it (model, optimizer, generator, step, data
/// position), so a run restarted from one takes exactly the updates the uninterrupted run would.
public final class Trainer<Model: TrainableModel> {
    public private(set) var model: Model
    public let options: LoopOptions
    /// Settings per parameter group; groups the model names but this lacks get the options' rate.
    public private(set) var groups: [String: GroupSettings] = [:]
    /// Updates taken.
    public private(set) var step = 0
    /// Micro-batches consumed from the data stream.
    public private(set) var dataPosition = 0
    /// How far the source was read through the last consumed micro-batch, when the stream says so
    /// (`TrainingRun.feed(_:through:)`): where a source that can seek starts a resumed run.
    public var streamPoint: StreamPoint?
    private var optimizer: any Optimizer
    /// Parameter indices of each group, in the model's parameter order.
    private var members: [(group: String, indices: [Int])] = []
    private var context: ForwardContext
    private let reducer: any GradientReducer

    public init(model: Model, options: LoopOptions, reducer: any GradientReducer = SingleProcess()) {
        self.model = model
        self.options = options
        self.reducer = reducer
        optimizer = options.makeOptimizer(model.namedParameters)
        context = ForwardContext(training: true, rng: RandomGenerator(seed: options.seed))
        indexGroups()
    }

    /// Changes a group's learning rate or freezes it (a two-phase run: backbone frozen, then all at a lower rate).
    public func setGroup(_ name: String, learningRate: Float? = nil, frozen: Bool? = nil) {
        var settings = groups[name] ?? GroupSettings(learningRate: options.learningRate)
        if let learningRate { settings.learningRate = learningRate }
        if let frozen { settings.frozen = frozen }
        groups[name] = settings
        applyFreezing()
    }

    /// One update over `batches` (the next micro-batches of the stream); `dataSeconds` is the time
    /// spent producing them, reported with the update.
    public func update(_ batches: [Model.Batch], dataSeconds: Double = 0) throws -> StepReport {
        let start = ContinuousClock.now
        if model.prepareUpdate(step) { rebuildOptimizer() }
        if let phase = model.groupSettings(at: step), phase != groups.filter({ phase[$0.key] != nil }) {
            groups.merge(phase) { $1 }
            applyFreezing()
        }
        model.zeroGradients()
        let rates = members.map { member in
            (member, options.schedule(peak: settings(member.group).learningRate).rate(at: step))
        }
        var report = StepReport(step: step + 1, loss: 0, terms: [], accuracies: [],
                                learningRate: rates.first { !settings($0.0.group).frozen }?.1 ?? 0, count: 0)
        let scale = 1 / Float(max(1, batches.count))
        context.step = step
        for batch in batches {
            let output = try model.accumulateGradients(on: batch, position: dataPosition, scale: scale, context: &context)
            dataPosition += 1
            report.loss += output.loss.item * scale
            report.count += output.count
            for (name, value) in output.terms {
                if let index = report.terms.firstIndex(where: { $0.name == name }) { report.terms[index].value += value * scale }
                else { report.terms.append((name, value * scale)) }
            }
            for (name, value) in output.accuracies {
                if let index = report.accuracies.firstIndex(where: { $0.name == name }) {
                    report.accuracies[index].value = report.accuracies[index].value + value
                } else { report.accuracies.append((name, value)) }
            }
        }
        let trainable = model.parameters.filter { $0.requiresGrad }
        try reducer.averageAcrossReplicas(trainable.compactMap(\.grad))
        if reducer.replicas > 1 { try reportGlobalBatch(&report) }
        if options.clipNorm > 0 { report.gradientNorm = clipGradientNorm(trainable, maxNorm: options.clipNorm) }
        for (member, rate) in rates where !settings(member.group).frozen {
            optimizer.step(member.indices, learningRate: rate)
        }
        step += 1
        report.dataSeconds = dataSeconds
        report.seconds = (ContinuousClock.now - start).inSeconds + dataSeconds
        return report
    }

    /// Replaces the report's figures, so far this replica's, by the global batch's: losses averaged
    /// over replicas, counts and accuracies summed.
    private func reportGlobalBatch(_ report: inout StepReport) throws {
        let local = [report.loss, Float(report.count)] + report.terms.map(\.value)
            + report.accuracies.flatMap { [Float($0.value.correct), Float($0.value.total)] }
        let sums = try reducer.sumAcrossReplicas(local)
        let mean = 1 / Float(reducer.replicas)
        (report.loss, report.count) = (sums[0] * mean, Int(sums[1]))
        for index in report.terms.indices { report.terms[index].value = sums[2 + index] * mean }
        let base = 2 + report.terms.count
        for index in report.accuracies.indices {
            report.accuracies[index].value = TokenAccuracy(correct: Int(sums[base + 2 * index]), total: Int(sums[base + 2 * index + 1]))
        }
    }

    // MARK: Checkpoints

    /// Saves everything a restart needs into one safetensors file (written atomically).
    public func saveCheckpoint(to file: URL, extra more: [String: String] = [:]) throws {
        var extra = model.checkpointMetadata.merging(["data.position": String(dataPosition)]) { $1 }.merging(more) { $1 }
        if let streamPoint { (extra["data.stream_epoch"], extra["data.stream_position"]) = (String(streamPoint.epoch), String(streamPoint.position)) }
        try Checkpoint.save(to: file, model: model, optimizer: optimizer, rng: context.rng, step: step, extra: extra)
    }

    /// Continues from a checkpoint written by `saveCheckpoint` of a trainer with the same model
    /// shape, data and options.
    public func resume(from file: URL) throws {
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw TrainingError(.checkpoint, file.path, "no checkpoint to resume from")
        }
        let extra = try Checkpoint.extra(from: file)
        guard let position = extra["data.position"].flatMap({ Int($0) }), position >= 0 else {
            throw TrainingError(.checkpoint, file.path, "checkpoint has no data position ('extra.data.position')")
        }
        var point: StreamPoint?
        if extra["data.stream_epoch"] != nil || extra["data.stream_position"] != nil {
            guard let epoch = extra["data.stream_epoch"].flatMap({ Int($0) }), let position = extra["data.stream_position"].flatMap({ Int($0) }),
                  epoch >= 0, position >= 0 else {
                throw TrainingError(.checkpoint, file.path, "'extra.data.stream_epoch' and 'extra.data.stream_position' are not both counts from 0")
            }
            point = StreamPoint(epoch: epoch, position: position)
        }
        try model.restore(checkpointMetadata: extra)
        optimizer = options.makeOptimizer(model.namedParameters)
        indexGroups()
        let (rng, savedStep) = try Checkpoint.restore(from: file, model: model, optimizer: &optimizer)
        (context.rng, step, dataPosition, streamPoint) = (rng, savedStep, position, point)
    }

    // MARK: Groups and the optimizer

    private func settings(_ group: String) -> GroupSettings {
        groups[group] ?? GroupSettings(learningRate: options.learningRate)
    }

    private func indexGroups() {
        members = []
        for (index, parameter) in model.namedParameters.enumerated() {
            let group = model.group(ofParameter: parameter.name)
            if let at = members.firstIndex(where: { $0.group == group }) { members[at].indices.append(index) }
            else { members.append((group, [index])) }
        }
        applyFreezing()
    }

    private func applyFreezing() {
        let parameters = model.parameters
        for member in members {
            let frozen = settings(member.group).frozen
            for index in member.indices {
                parameters[index].requiresGrad = !frozen
                if frozen { parameters[index].zeroGrad() }
            }
        }
    }

    /// A new optimizer for the model's current parameters, keeping the state and step count of every
    /// parameter that survives under its name; a parameter that replaced others (a densified map)
    /// continues the run's step count, as the moments it replaces had.
    private func rebuildOptimizer() {
        let previous = optimizer
        var next = options.makeOptimizer(model.namedParameters)
        let saved = Dictionary(previous.state.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
        for (name, tensor) in next.state { if let old = saved[name], old.shape == tensor.shape { tensor.assign(old) } }
        let counts = Dictionary(zip(previous.parameters.map(\.name), previous.stepCounts), uniquingKeysWith: max)
        let runSteps = previous.stepCounts.max() ?? 0
        next.stepCounts = next.parameters.map { counts[$0.name] ?? runSteps }
        optimizer = next
        indexGroups()
    }
}

