/// Ranks could not be set up or a collective failed: what kind, and a sentence a user can act on.
public struct DistributedError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure: lets callers and tests branch without parsing the message.
    public enum Kind: String, Sendable {
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

    public let kind: Kind
    public let reason: String

    public init(_ kind: Kind, _ reason: String) { (self.kind, self.reason) = (kind, reason) }

    public var description: String { reason }
}
