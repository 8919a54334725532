import Foundation

/// A training checkpoint in one safetensors file: the model's parameters and buffers under their own names
/// (so the file also loads as plain weights), the optimizer's state under `optimizer.`, and in the
/// metadata the step, the optimizer's step count and the random generator's state, so a resumed
/// run continues exactly where the saved one stopped.
public enum Checkpoint {
    /// Writes model, optimizer and generator state after `step` updates.
    public static func save(to file: URL, model: some Layer, optimizer: some Optimizer,
                            rng: RandomGenerator, step: Int) throws(SafeTensorsError) {
        let tensors = model.namedState + optimizer.state.map { ("optimizer." + $0.name, $0.tensor) }
        let metadata = [
            "format": "sluice-checkpoint-1",
            "step": String(step),
            "optimizer.step": String(optimizer.stepCount),
            "rng": rng.state.map { String($0) }.joined(separator: ","),
        ]
        try SafeTensors.write(tensors, metadata: metadata, to: file)
    }

    /// Restores model and optimizer in place; returns the generator and the step to continue from.
    public static func restore<O: Optimizer>(from file: URL, model: some Layer, optimizer: inout O)
        throws(SafeTensorsError) -> (rng: RandomGenerator, step: Int) {
        let (tensors, metadata) = try SafeTensors.read(file)
        guard metadata["format"] == "sluice-checkpoint-1" else {
            throw SafeTensorsError(file, "not a sluice checkpoint (metadata 'format' is \(metadata["format"] ?? "missing"))")
        }
        guard let step = metadata["step"].flatMap({ Int($0) }),
              let optimizerStep = metadata["optimizer.step"].flatMap({ Int($0) }) else {
            throw SafeTensorsError(file, "metadata 'step' or 'optimizer.step' missing or not a number")
        }
        let words = (metadata["rng"] ?? "").split(separator: ",").compactMap { UInt64($0) }
        guard let rng = RandomGenerator(state: words) else {
            throw SafeTensorsError(file, "metadata 'rng' is not four 64-bit words")
        }
        try model.load(tensors, from: file)
        for (name, tensor) in optimizer.state {
            guard let saved = tensors["optimizer." + name], saved.shape == tensor.shape else {
                throw SafeTensorsError(file, "optimizer state 'optimizer.\(name)' missing or of another shape")
            }
            tensor.assign(saved)
        }
        optimizer.stepCount = optimizerStep
        return (rng, step)
    }
}
