import Foundation
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

extension VideoReader {
    /// Writes the selected frames to `url` as .npy (uint8 N x H x W x 3, the selection's order),
    /// atomically, and returns their frame numbers and picture size. A selection in ascending order (every one but
    /// `.indices` and `.timestamps` out of order) streams picture by picture into the file: memory
    /// stays at one picture, with no copy of the whole batch. Any other order is collected first.
    public func writeNPY(
        _ selection: FrameSelection, output: FrameOutput = FrameOutput(), seek: SeekMode = .exact, to url: URL
    ) throws(MediaError) -> (frameNumbers: [Int], width: Int, height: Int) {
        func failure(_ error: NPYError) -> MediaError { MediaError(.writeFailed, path: error.path, error.reason) }
        let numbers = try frameNumbers(selection, in: try index(), seek: seek)
        guard zip(numbers, numbers.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            let batch = try frames(.indices(numbers), output: output)
            do { try NPY.write(batch.ndarray, to: url) } catch { throw failure(error) }
            return (numbers, batch.width, batch.height)
        }
        let (width, height) = try pictureSize(output)
        let file: NPYFileWriter
        do { file = try NPYFileWriter(url: url, shape: [numbers.count, height, width, 3], dtype: .uint8) } catch { throw failure(error) }
        try forEachFrame(.indices(numbers), output: output) { (_, picture) throws(MediaError) in
            do throws(NPYError) { try file.append(UnsafeRawBufferPointer(picture)) } catch { throw failure(error) }
        }
        do { try file.finish() } catch { throw failure(error) }
        return (numbers, width, height)
    }
}
