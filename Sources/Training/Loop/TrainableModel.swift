import Models
import Tensor

/// What the training loop needs from a model: what a batch is, the loss of one, and how its
/// parameters fall into groups. Everything else (accumulation, clipping, the optimizer and its
/// schedule, checkpoints, logs) is the loop's.
public protocol TrainableModel: Layer {
    associatedtype Batch

    /// The loss of one micro-batch, number `position` of the data stream (a model may draw
    /// per-batch data from it, as RetroMAE's stage 2 takes the pair batch of the same number).
    func loss(on batch: Batch, position: Int, context: inout ForwardContext) throws -> LossReport

    /// Adds `scale` times the gradient of the micro-batch's loss into the parameters' gradients.
    /// By default `loss` and one backward pass; a contrastive model whose batch is larger than one
    /// forward pass can hold computes it chunk by chunk with `GradientCache` instead.
    func accumulateGradients(on batch: Batch, position: Int, scale: Float, context: inout ForwardContext) throws -> LossReport

    /// The group a parameter belongs to (`backbone`, `head`): groups get their own learning rate
    /// and can be frozen. One group, `all`, unless a model says otherwise.
    func group(ofParameter name: String) -> String

    /// Called before update `step` (0-based). Returns true when it replaced parameters (Monarch maps
    /// multiplied out); the loop then moves the optimizer's state over by parameter name.
    mutating func prepareUpdate(_ step: Int) -> Bool

    /// The group settings update `step` takes (a two-phase run: the backbone frozen, then every
    /// group at a lower rate), or nil to keep the trainer's. A function of the step, so a resumed
    /// run is in the same phase as the one it continues.
    func groupSettings(at step: Int) -> [String: GroupSettings]?

    /// What a checkpoint must hold besides tensors to rebuild this model's shape, and the restore.
    var checkpointMetadata: [String: String] { get }
    mutating func restore(checkpointMetadata: [String: String]) throws
}

extension TrainableModel {
    public func accumulateGradients(on batch: Batch, position: Int, scale: Float, context: inout ForwardContext) throws -> LossReport {
        let report = try loss(on: batch, position: position, context: &context)
        (report.loss * scale).backward()
        return report
    }

    public func group(ofParameter name: String) -> String { "all" }
    public mutating func prepareUpdate(_ step: Int) -> Bool { false }
    public func groupSettings(at step: Int) -> [String: GroupSettings]? { nil }
    public var checkpointMetadata: [String: String] { [:] }
    public mutating func restore(checkpointMetadata: [String: String]) throws {}
}

/// One micro-batch's loss, and what to log about it.
public struct LossReport {
    /// The scalar to minimise.
    public var loss: Tensor
    /// Parts of the loss and other figures, averaged over an update's micro-batches in the log.
    public var terms: [(name: String, value: Float)]
    /// Accuracies, pooled over an update's micro-batches.
    public var accuracies: [(name: String, value: TokenAccuracy)]
    /// Tokens or examples the batch held (the unit the options name), for throughput.
    public var count: Int

    public init(loss: Tensor, terms: [(name: String, value: Float)] = [], accuracies: [(name: String, value: TokenAccuracy)] = [],
                count: Int) {
        (self.loss, self.terms, self.accuracies, self.count) = (loss, terms, accuracies, count)
    }
}

/// Where an update's gradients are combined across replicas before clipping and the optimizer:
/// the one seam data-parallel training fills in (an MPI allreduce averaging over ranks).
public protocol GradientReducer {
    /// Replaces each gradient by its mean over all replicas, in place.
    func averageAcrossReplicas(_ gradients: [Tensor]) throws
    /// Each value summed over all replicas: the update's losses and counts, so that the step
    /// report (and rank 0's log) shows the whole global batch, not one replica's part.
    func sumAcrossReplicas(_ values: [Float]) throws -> [Float]
    /// How many replicas average their gradients (1 for one process).
    var replicas: Int { get }
}

extension GradientReducer {
    public func sumAcrossReplicas(_ values: [Float]) throws -> [Float] { values }
    public var replicas: Int { 1 }
}

/// One process: its gradients are already the mean.
public struct SingleProcess: GradientReducer {
    public init() {}
    public func averageAcrossReplicas(_ gradients: [Tensor]) {}
}

/// The replicas of a data-parallel run as a loss sees them: a contrastive loss gathers every
/// replica's embeddings so that each one's loss sees the global batch's negatives.
public protocol ReplicaGroup {
    /// This replica's place, 0 ..< count.
    var rank: Int { get }
    var count: Int { get }
    /// Every replica's `values` (any length each), in replica order.
    func allgather(_ values: [Float]) throws -> [[Float]]
}

/// One process: nothing to gather.
public struct OneReplica: ReplicaGroup {
    public init() {}
    public var rank: Int { 0 }
    public var count: Int { 1 }
    public func allgather(_ values: [Float]) -> [[Float]] { [values] }
}
