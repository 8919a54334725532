/// What went wrong with a dataset, naming the file and, when known, the sample, so a user can find it.
public struct ShardError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file at fault (a shard, `index.json`), or the dataset directory.
    public var file: String
    /// The sample index within the file, when the problem is one sample.
    public var sample: Int?
    /// Why, in words a user can act on.
    public var reason: String

    public init(file: String, sample: Int? = nil, _ reason: String) {
        self.file = file
        self.sample = sample
        self.reason = reason
    }

    public var description: String {
        if let sample { return "\(file): sample \(sample): \(reason)" }
        return "\(file): \(reason)"
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` keeping the typed error (the standard one rethrows `any Error`).
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(ShardError) -> R) throws(ShardError) -> R {
        try withUnsafeBytes { raw in Result { () throws(ShardError) -> R in try body(raw) } }.get()
    }
}
