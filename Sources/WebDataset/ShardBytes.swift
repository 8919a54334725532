import Foundation
import SystemErrors

/// The bytes of one shard, pulled in order by `TarReader`: from a local file, or from a transfer
/// (a bucket's or a web server's) running on its own thread.
public protocol ShardBytes: AnyObject {
    /// Copies up to `buffer.count` of the next bytes into `buffer`; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(WebDatasetError) -> Int
    /// Ends what is still running (a transfer the reader no longer wants); safe to call twice.
    func close()
}

/// A local shard file, read with plain `read(2)`: the archive is streamed, never mapped or unpacked.
public final class FileShardBytes: ShardBytes {
    public let path: String
    private var descriptor: Int32

    public init(path: String) throws(WebDatasetError) {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw WebDatasetError(.unreadable, path: path, "cannot open: \(SystemErrorText.words(errno: errno))")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            Glibc.close(descriptor)
            descriptor = -1
            throw WebDatasetError(.unreadable, path: path, "is not a regular file")
        }
    }

    deinit { close() }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(WebDatasetError) -> Int {
        while true {
            let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno != EINTR {
                throw WebDatasetError(.unreadable, path: path, "read failed: \(SystemErrorText.words(errno: errno))")
            }
        }
    }

    public func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }
}

/// A shard arriving from a transfer that pushes its bytes (`S3Client.read`, `HTTPClient.read`):
/// the transfer runs on its own thread into a few blocks held here, so the network and the tar
/// reader overlap and memory stays at `capacity` blocks whatever the shard's size.
public final class StreamedShardBytes: ShardBytes, @unchecked Sendable {
    public typealias Transfer = @Sendable (_ receive: (UnsafeRawBufferPointer) -> Bool) throws -> Void

    public let path: String
    private let blockSize: Int
    private let capacity: Int
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var blocks: [[UInt8]] = []
    private var ended = false
    private var failure: WebDatasetError?
    private var cancelled = false
    private var running = true
    // The consumer's block being read.
    private var current: [UInt8] = []
    private var offset = 0

    public init(path: String, blockSize: Int = 1 << 20, capacity: Int = 4, transfer: @escaping Transfer) {
        self.path = path
        self.blockSize = max(1, blockSize)
        self.capacity = max(1, capacity)
        let thread = Thread { [self] in produce(transfer) }
        thread.name = "shard-download"
        thread.start()
    }

    deinit { close() }

    private func produce(_ transfer: Transfer) {
        var pending: [UInt8] = []
        pending.reserveCapacity(blockSize)
        var outcome: WebDatasetError?
        do {
            try transfer { bytes in
                var rest = bytes[...]
                while !rest.isEmpty {
                    let take = min(rest.count, blockSize - pending.count)
                    pending.append(contentsOf: rest.prefix(take))
                    rest = rest.dropFirst(take)
                    if pending.count == blockSize {
                        guard push(pending) else { return false }
                        pending.removeAll(keepingCapacity: true)
                    }
                }
                return true
            }
            if !pending.isEmpty { _ = push(pending) }
        } catch {
            outcome = WebDatasetError(.unreadable, path: path, "download failed: \(error)")
        }
        condition.withLock {
            if !cancelled { failure = outcome }
            ended = true
            running = false
            condition.broadcast()
        }
    }

    /// Waits for room; false once the consumer has closed.
    private func push(_ block: [UInt8]) -> Bool {
        condition.withLock {
            while blocks.count >= capacity && !cancelled { condition.wait() }
            guard !cancelled else { return false }
            blocks.append(block)
            condition.broadcast()
            return true
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(WebDatasetError) -> Int {
        if offset == current.count {
            let next: Result<[UInt8]?, WebDatasetError> = condition.withLock {
                while blocks.isEmpty && !ended { condition.wait() }
                if !blocks.isEmpty {
                    condition.broadcast()
                    return .success(blocks.removeFirst())
                }
                return failure.map { .failure($0) } ?? .success(nil)
            }
            guard let next = try next.get() else { return 0 }
            (current, offset) = (next, 0)
        }
        let count = min(buffer.count, current.count - offset)
        current.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + offset, byteCount: count)
        }
        offset += count
        return count
    }

    /// Stops the transfer and waits for its thread, so nothing outlives the reader.
    public func close() {
        condition.withLock {
            cancelled = true
            blocks.removeAll()
            condition.broadcast()
            while running { condition.wait() }
        }
    }
}
