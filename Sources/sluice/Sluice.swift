import ArgumentParser
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
            """,
        version: "0.1.0",
        subcommands: [Run.self, Validate.self, Stages.self],
        groupedSubcommands: [
            CommandGroup(name: "Data", subcommands: [ShardsCommand.self, SafeTensorsInfo.self, Probe.self, Frames.self,
                                                     Mel.self, Tokenize.self, Vocab.self]),
            CommandGroup(name: "Trainer", subcommands: [RetroMAECommand.self, SpokenMomentsCommand.self, CapsulesCommand.self]),
        ])

    /// Runs the command line on OpenBLAS kernels made for this CPU (see `BLASKernels`). An error
    /// Foundation threw about a file is printed in plain words with the file, never as its dump.
    static func main() {
        BLASKernels.reexecuteWithBetterKernels()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: plainWords(error))
        }
    }
}

/// A file the command could not write, said in words (`SystemErrorText`): exit 1, no usage text.
struct FileSystemError: Error, CustomStringConvertible {
    var description: String
}

/// `error`, or for a Foundation or POSIX file error its plain words with the file.
func plainWords(_ error: any Error) -> any Error {
    SystemErrorText.fileError(error).map(FileSystemError.init) ?? error
}
