import PipelineCore

/// Media results as PipelineCore arrays: what pipeline samples carry and `NPY` writes, so frames
/// and spectrograms open with `numpy.load` (uint8 N x H x W x 3, float32 frames x mels).
extension FrameBatch {
    /// The pictures as uint8 N x H x W x 3.
    public var ndarray: NDArray {
        NDArray(dtype: .uint8, shape: [count, height, width, 3], data: pixels)
    }

    /// The pictures as float32 N x 3 x H x W, normalised per channel (see `normalizedCHW`).
    public func normalizedNDArray(mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]) -> NDArray {
        NDArray(shape: [count, 3, height, width], values: normalizedCHW(mean: mean, std: std))
    }
}

extension MelSpectrogram {
    /// The spectrogram as float32 frames x mels.
    public var ndarray: NDArray { NDArray(shape: [frames, melBins], values: values) }
}

extension AudioBuffer {
    /// The samples as float32: [frames] for mono, [frames, channels] otherwise.
    public var ndarray: NDArray {
        NDArray(shape: channels == 1 ? [frameCount] : [frameCount, channels], values: samples)
    }
}
