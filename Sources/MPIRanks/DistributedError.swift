import SystemErrors

/// Ranks could not be set up or a collective failed: what kind, where (the variable, MPI call or
/// collective) and a sentence a user can act on.
public struct DistributedError: CodedError, Equatable {
    /// What kind of failure: lets callers and tests branch without parsing the message.
    public enum Code: String, Sendable {
        /// RANK / WORLD_SIZE / LOCAL_RANK hold something other than a rank below the world size.
        case environment
        /// A collective was asked of a multi-rank job no MPI launcher started (ranks from RANK /
        /// WORLD_SIZE only, which suffice for splitting data but cannot exchange anything).
        case noLauncher
        /// Ranks called a collective with different sizes.
        case mismatch
        /// An MPI call failed; the reason holds MPI's own text.
        case mpi
        /// Another rank failed (its rank and error are in the reason).
        case peerFailed
    }

    public let code: Code
    /// The environment variable, MPI call or collective at fault.
    public let path: String
    public let reason: String

    public init(_ code: Code, path: String, _ reason: String) { (self.code, self.path, self.reason) = (code, path, reason) }

    /// Settings and mismatched calls are the job's input; a failing MPI or peer is the system's.
    public var failure: Failure {
        switch code {
        case .environment, .noLauncher, .mismatch: .data
        case .mpi, .peerFailed: .io
        }
    }

    public var description: String { "\(path): \(reason)" }
}
