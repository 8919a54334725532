import ArgumentParser
import Foundation
import SystemErrors
import Tensor

/// The `sluice` command line.
@main
struct Sluice: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Streaming data pipelines for training multimodal and text models.",
        discussion: """
            Pipelines are YAML files naming a source, stages and a sink:
              sluice validate pipelines/demo.yaml
              sluice run pipelines/demo.yaml --set options.on_error=skip
            """ + "\n\n" + ExitCode.documentation,
        version: "0.1.0",
        subcommands: [Run.self, Validate.self, Stages.self],
        groupedSubcommands: [
            CommandGroup(name: "Data", subcommands: [ShardsCommand.self, SafeTensorsInfo.self, Probe.self, Frames.self,
                                                     Mel.self, Tokenize.self, Vocab.self]),
            CommandGroup(name: "Trainer", subcommands: [RetroMAECommand.self, SpokenMomentsCommand.self, CapsulesCommand.self]),
        ])

    /// Runs the command line on OpenBLAS kernels made for this CPU (see `BLASKernels`). Usage
    /// errors, help and explicit exit codes are ArgumentParser's to print; any other error is
    /// printed in one line ("error: PATH: reason", a Foundation file error in plain words, never
    /// its dump) and exits with the code of its `Failure`: 65 bad data, 74 I/O, 130 interrupted.
    static func main() {
        BLASKernels.reexecuteWithBetterKernels()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            guard exitCode(for: error) == .failure, !(error is ExitCode) else { exit(withError: error) }
            printError("error: \(plainWords(error))")
            Foundation.exit(ExitCode(Failure(of: error)).rawValue)
        }
    }
}

/// `error`, or for a Foundation or POSIX file error its plain words with the file.
func plainWords(_ error: any Error) -> any Error {
    FileSystemError(error) ?? error
}
