import Foundation
import SystemErrors

/// What the engine could not do with data it was given: an index outside its table, a layer
/// configuration it cannot build, a safetensors file, or a LAPACK call. Shape mismatches between
/// ops are programming errors and stop with a message instead.
public struct TensorError: CodedError, Equatable {
    /// What kind of failure, to match without parsing the message.
    public enum Code: String, Sendable {
        /// A token id or class label from the data lies outside what it indexes.
        case indexOutOfRange
        /// A layer configuration the engine cannot build (an unknown linear kind, zero blocks).
        case invalidConfiguration
        /// A file that cannot be opened or read.
        case unreadableFile
        /// A file whose contents are not a valid safetensors file (header, dtype, shape, offsets).
        case invalidFile
        /// A file that cannot be written.
        case unwritableFile
        /// A tensor a model needs is not in the file.
        case missingTensor
        /// A tensor in the file has another shape than the model's.
        case shapeMismatch
        /// A LAPACK routine failed.
        case linearAlgebra
    }

    public let code: Code
    /// The file or the operation at fault; empty when the reason names it.
    public let path: String
    public let reason: String

    public init(_ code: Code, _ path: String, _ reason: String) {
        (self.code, self.path, self.reason) = (code, path, reason)
    }

    /// An error about `file`.
    public init(_ code: Code, _ file: URL, _ reason: String) { self.init(code, file.path, reason) }

    /// A file that cannot be opened or written is the system's; everything else is the data's
    /// (a LAPACK failure is the matrix it was given).
    public var failure: Failure {
        switch code {
        case .unreadableFile, .unwritableFile: .io
        case .indexOutOfRange, .invalidConfiguration, .invalidFile, .missingTensor, .shapeMismatch, .linearAlgebra: .data
        }
    }

    public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}
