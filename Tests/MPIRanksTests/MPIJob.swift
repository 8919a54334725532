import Foundation

/// A job as a user starts it: `mpiexec -n RANKS PROGRAM ARGUMENTS...` from the repository, with
/// what it printed and its exit status.
struct MPIJob {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let sluice = repository.appendingPathComponent(".build/debug/sluice").path
    static let check = repository.appendingPathComponent(".build/debug/mpi-ranks-check").path

    var status: Int32
    var output: String
    var errors: String

    /// Runs `program` on `ranks` ranks (`ranks == nil`: one plain process, no launcher).
    /// `whileRunning` gets the process and a reader of what it has printed to standard error so far.
    static func run(ranks: Int?, _ program: String, _ arguments: [String], environment: [String: String] = [:],
                    whileRunning: (Process, () -> String) throws -> Void = { _, _ in }) throws -> MPIJob {
        let process = Process()
        if let ranks {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/mpiexec")
            process.arguments = ["-n", String(ranks), program] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = arguments
        }
        process.currentDirectoryURL = repository
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("mpijob-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: scratch.path + ".out", contents: nil)
        FileManager.default.createFile(atPath: scratch.path + ".err", contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: scratch.path + ".out")
            try? FileManager.default.removeItem(atPath: scratch.path + ".err")
        }
        // Files, not pipes: a rank that prints a lot never blocks on a full pipe.
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.path + ".out"))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.path + ".err"))
        try process.run()
        try whileRunning(process) { (try? String(contentsOfFile: scratch.path + ".err", encoding: .utf8)) ?? "" }
        process.waitUntilExit()
        return MPIJob(status: process.terminationStatus,
                      output: try String(contentsOfFile: scratch.path + ".out", encoding: .utf8),
                      errors: try String(contentsOfFile: scratch.path + ".err", encoding: .utf8))
    }
}
