import Settings
import Tensor

/// The optimizer a run uses.
public enum OptimizerKind: String, CaseIterable, Sendable {
    /// Adam with decoupled weight decay (`torch.optim.AdamW`).
    case adamw
    /// Adam with L2 weight decay added to the gradient (`torch.optim.Adam`).
    case adam
    /// SGD with momentum (`torch.optim.SGD`).
    case sgd
}

/// How the learning rate decays after warm-up.
public enum ScheduleKind: String, CaseIterable, Sendable {
    case linear, cosine, constant

    var decay: LearningRateSchedule.Decay {
        switch self {
        case .linear: .linear
        case .cosine: .cosine
        case .constant: .constant
        }
    }
}

/// Settings of the training loop that every trainer shares: updates, optimizer, schedule,
/// clipping, and how often to log, checkpoint and evaluate. A trainer sets its own defaults where
/// they differ (a learning rate) in its options' initialiser.
public struct LoopOptions: Sendable, Equatable {
    public var steps = 200
    public var accumulation = 1
    public var optimizer = OptimizerKind.adamw
    public var learningRate: Float = 1e-4
    public var schedule = ScheduleKind.linear
    public var warmup: Float = 0.1
    public var weightDecay: Float = 0.01
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var momentum: Float = 0.9
    /// Global gradient-norm bound; 0 turns clipping off.
    public var clipNorm: Float = 1
    public var seed: UInt64 = 0
    public var logEvery = 10
    public var checkpointEvery = 100
    /// Updates between evaluations (the run also evaluates at its start and end).
    public var evalEvery = 1000
    /// Start over in a directory that holds another run instead of refusing it (`TrainingRun`).
    public var overwrite = false
    /// Seconds of training after which this process's run ends early (0: none), for comparisons at
    /// equal wall-clock; the schedule still spans `steps`.
    public var timeLimit = 0

    public init() {}

    /// Their settings, lifted into a trainer's options by `path`.
    public static func settings<Options>(at path: WritableKeyPath<Options, LoopOptions>) -> [Setting<Options>] {
        let own: [Setting<LoopOptions>] = [
            .int("steps", \.steps, max: 1 << 40, "updates in the run (the schedule ends there)"),
            .int("accumulation", \.accumulation, max: 1 << 16, "micro-batches whose gradients add up to one update"),
            .choice("optimizer", \.optimizer, "adamw, adam (L2 decay) or sgd (momentum)"),
            .float("lr", \.learningRate, "peak learning rate"),
            .choice("schedule", \.schedule, "decay after warm-up"),
            .float("warmup", \.warmup, max: 1, "share of the updates spent warming up from zero"),
            .float("weight_decay", \.weightDecay, "weight decay (decoupled for adamw)"),
            .float("beta1", \.beta1, max: 0.999999, "Adam's first-moment decay"),
            .float("beta2", \.beta2, max: 0.999999, "Adam's second-moment decay"),
            .float("momentum", \.momentum, max: 0.999999, "SGD momentum"),
            .float("clip_norm", \.clipNorm, "global gradient-norm bound (0: no clipping)"),
            .seed("seed", \.seed, "seed of initialisation, data order, masks and dropout"),
            .int("log_every", \.logEvery, "updates between log lines and metrics records"),
            .int("checkpoint_every", \.checkpointEvery, "updates between checkpoints"),
            .int("eval_every", \.evalEvery, "updates between evaluations"),
            .int("time_limit", \.timeLimit, min: 0, max: 1 << 40,
                 "seconds after which this process stops training early, as if `steps` were reached (0: none); for equal wall-clock comparisons"),
            .flag("overwrite", \.overwrite, "start over in an out that holds another run: its metrics.jsonl, "
                  + "checkpoint.safetensors, best.safetensors and TensorBoard events files are removed, nothing else"),
        ]
        return own.map { $0.lifted(path) }
    }

    func makeOptimizer(_ parameters: [(name: String, tensor: Tensor)]) -> any Optimizer {
        switch optimizer {
        case .adamw, .adam:
            Adam(parameters: parameters, beta1: beta1, beta2: beta2, weightDecay: weightDecay,
                 decoupledWeightDecay: optimizer == .adamw)
        case .sgd: SGD(parameters: parameters, momentum: momentum, weightDecay: weightDecay)
        }
    }

    /// The schedule with `peak` as its top rate (each parameter group has its own peak).
    func schedule(peak: Float) -> LearningRateSchedule {
        LearningRateSchedule(peak: peak, warmupSteps: Int((warmup * Float(steps)).rounded()), totalSteps: steps,
                             decay: schedule.decay)
    }
}
