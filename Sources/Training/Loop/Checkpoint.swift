import Foundation
import SystemErrors
import Tensor

/// A training checkpoint in one safetensors file: the model's parameters and buffers under their own
/// names (so the file also loads as plain weights), the optimizer's state under `optimizer.`, and in
/// the metadata the step, each parameter's optimizer step count, the random generator's state and
/// the caller's own entries (data position, model shape), so a resumed run continues exactly where
/// the saved one stopped. Written atomically (a temporary file renamed into place).
public enum Checkpoint {
    static let format = "sluice-checkpoint-2"

    static func save(to file: URL, model: some Layer, optimizer: any Optimizer, rng: RandomGenerator, step: Int,
                     extra: [String: String]) throws(TensorError) {
        let tensors = model.namedState + optimizer.state.map { ("optimizer." + $0.name, $0.tensor) }
        let metadata = [
            "format": format,
            "step": String(step),
            "optimizer.steps": optimizer.stepCounts.map { String($0) }.joined(separator: ","),
            "rng": rng.state.map { String($0) }.joined(separator: ","),
        ].merging(extra.map { ("extra." + $0.key, $0.value) }) { $1 }
        let bytes = try SafeTensors.encode(tensors, metadata: metadata, file: file)
        do { try bytes.write(to: file, options: .atomic) } catch {
            throw TensorError(.unwritableFile, file, "cannot write the checkpoint: \(SystemErrorText.words(error))")
        }
    }

    /// The `extra` entries a checkpoint was saved with (data position, model shape).
    public static func extra(from file: URL) throws -> [String: String] { try open(file).extra }

    /// A checkpoint's `extra` entries and its tensors: what eval and embed rebuild a model from
    /// (build it from the entries, then `load` the tensors into it).
    public static func open(_ file: URL) throws -> (extra: [String: String], tensors: [String: Tensor]) {
        let (tensors, metadata) = try SafeTensors.read(file)
        guard metadata["format"] == format else {
            throw TrainingError(.checkpoint, file.path, "not a sluice checkpoint (metadata 'format' is \(metadata["format"] ?? "missing"), expected \(format))")
        }
        let extra = Dictionary(uniqueKeysWithValues: metadata.compactMap { key, value in
            key.hasPrefix("extra.") ? (String(key.dropFirst(6)), value) : nil
        })
        return (extra, tensors)
    }

    /// Restores model and optimizer in place; returns the generator and the step to continue from.
    static func restore(from file: URL, model: some Layer, optimizer: inout any Optimizer) throws -> (rng: RandomGenerator, step: Int) {
        let (tensors, metadata) = try SafeTensors.read(file)
        let steps = (metadata["optimizer.steps"] ?? "").split(separator: ",").compactMap { Int($0) }
        guard let step = metadata["step"].flatMap({ Int($0) }), step >= 0, steps.count == optimizer.parameters.count else {
            throw TrainingError(.checkpoint, file.path, "metadata 'step' or 'optimizer.steps' missing, or not one count per parameter")
        }
        let words = (metadata["rng"] ?? "").split(separator: ",").compactMap { UInt64($0) }
        guard let rng = RandomGenerator(state: words) else {
            throw TrainingError(.checkpoint, file.path, "metadata 'rng' is not four 64-bit words")
        }
        try model.load(tensors, from: file)
        for (name, tensor) in optimizer.state {
            guard let saved = tensors["optimizer." + name] else {
                throw TrainingError(.checkpoint, file.path, "optimizer state 'optimizer.\(name)' is missing (saved with another optimizer?)")
            }
            guard saved.shape == tensor.shape else {
                throw TrainingError(.checkpoint, file.path, "optimizer state 'optimizer.\(name)' has shape \(saved.shape), the model needs \(tensor.shape)")
            }
            tensor.assign(saved)
        }
        optimizer.stepCounts = steps
        return (rng, step)
    }
}
