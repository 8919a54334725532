extension Tensor {
    /// The temporal shift module (TSM, Lin et al. 2019) on per-frame activations
    /// `[clips * frames, C, H, W]`: in each clip, the first `C / foldDivisor` channels of frame t
    /// take frame t + 1's values, the next `C / foldDivisor` take frame t - 1's, zero past the
    /// clip's ends; the rest stay. A 2-D network then mixes neighbouring frames at no cost in
    /// parameters, which is what lets it tell one direction of motion from the other.
    public func temporalShift(frames: Int, foldDivisor: Int = 8) -> Tensor {
        precondition(rank == 4 && frames > 0 && shape[0] % frames == 0 && foldDivisor > 0,
                     "temporalShift: \(shape) is not [clips * \(frames), C, H, W]")
        let result = Tensor(uninitialized: shape)
        shiftFrames(shape, from: storage.pointer, into: result.storage.pointer, frames: frames, foldDivisor: foldDivisor, backward: false)
        let inputShape = shape
        return record(result, [self]) { g in
            let gx = Tensor(uninitialized: inputShape)
            shiftFrames(inputShape, from: g.storage.pointer, into: gx.storage.pointer, frames: frames, foldDivisor: foldDivisor, backward: true)
            return [gx]
        }
    }
}

/// The shift (or, `backward`, its adjoint: the opposite shift) of `shape` from `source` into `target`.
private func shiftFrames(_ shape: [Int], from source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>,
                         frames: Int, foldDivisor: Int, backward: Bool) {
    let channels = shape[1], plane = shape[2] &* shape[3], fold = channels / foldDivisor
    parallelFor(shape[0] &* channels, cost: plane) { start, end in
        for task in start..<end {
            let image = task / channels, c = task % channels, t = image % frames
            let step = c < fold ? 1 : c < 2 &* fold ? -1 : 0
            let from = t &+ (backward ? -step : step)
            let out = target + task &* plane
            if from >= 0 && from < frames {
                out.update(from: source + ((image &- t &+ from) &* channels &+ c) &* plane, count: plane)
            } else {
                out.update(repeating: 0, count: plane)
            }
        }
    }
}
