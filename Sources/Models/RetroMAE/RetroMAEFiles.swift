import Foundation
import SystemErrors
import Tensor

extension RetroMAEModel {
    /// A model from a directory in the Hugging Face layout: `config.json` and `model.safetensors`.
    ///
    /// Reads our own checkpoints and Hugging Face BERT checkpoints (`BertModel` names without a
    /// prefix, or `BertForMaskedLM`/`BertForPreTraining` names under `bert.`). Parts the file does not
    /// hold (the MLM head of a bare `BertModel`, the RetroMAE decoder of any BERT) keep their
    /// random initialisation, as the paper starts RetroMAE from BERT.
    public init(directory: URL, rng: inout RandomGenerator) throws(ModelError) {
        let config = try BertConfig(configFile: directory.appendingPathComponent("config.json"))
        let file = directory.appendingPathComponent("model.safetensors")
        let bytes = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.intValue
        guard let bytes else {
            throw ModelError(.missingFile, directory.path, "no model.safetensors (save PyTorch models with safe_serialization=True)")
        }
        // Checked before allocating: the weights (16-bit at the least) must fit in the file.
        guard config.parameterCount <= bytes / 2 else {
            throw ModelError(.invalidWeights, file.path, "\(bytes) bytes cannot hold the \(config.parameterCount) encoder parameters config.json describes")
        }
        self.init(config, rng: &rng)
        do throws(TensorError) {
            let tensors = try SafeTensors.read(file).tensors
            let encoderPrefix = tensors["bert.embeddings.word_embeddings.weight"] != nil ? "bert." : ""
            try encoder.load(tensors, prefix: encoderPrefix, from: file)
            let (hasHead, hasDecoder) = (tensors["cls.predictions.bias"] != nil, tensors["c_head.attention.self.query.weight"] != nil)
            if hasHead { try head.load(tensors, prefix: "cls.", from: file) }
            if hasDecoder { try decoder.load(tensors, prefix: "c_head.", from: file) }
            headAndDecoderLoaded = hasHead && hasDecoder
        } catch {
            throw ModelError(error)
        }
    }

    /// Writes `config.json` and `model.safetensors`, loadable by `init(directory:)`; the encoder
    /// and head carry transformers' `BertForMaskedLM` names.
    public func save(to directory: URL) throws(ModelError) {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ModelError(.writeFailed, directory.path, "cannot create the model directory: \(SystemErrorText.words(error))")
        }
        try config.writeModelConfig(to: directory.appendingPathComponent("config.json"))
        let file = directory.appendingPathComponent("model.safetensors")
        do throws(TensorError) {
            try SafeTensors.write(namedState, metadata: ["format": "pt"], to: file)
        } catch {
            throw ModelError(error)
        }
    }
}
