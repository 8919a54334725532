import ArgumentParser
import Foundation
import Tensor

/// `--threads`, the math threads a command computes with (OpenBLAS and our kernels).
struct ThreadsOption: ParsableArguments {
    @Option(help: "Math threads.") var threads = ProcessInfo.processInfo.activeProcessorCount

    func configure() { ComputeThreads.configure(max(1, threads)) }
}
