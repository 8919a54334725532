import DequeModule
import Foundation

/// A bounded, blocking FIFO of chunks between two stages.
///
/// `send` blocks while the queue is full, so a slow consumer suspends its producer
/// (backpressure) and nothing is ever dropped. Stages run on threads the engine owns, so
/// blocking here never starves Swift's cooperative pool.
final class Channel<Element: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var chunks: Deque<[Element]> = []
    private let capacity: Int
    private var openProducers: Int
    private var cancelled = false

    /// - Parameters:
    ///   - capacity: chunks the queue holds before `send` blocks.
    ///   - producers: how many producers must call `producerFinished()` before the channel ends.
    init(capacity: Int, producers: Int = 1) {
        precondition(capacity > 0 && producers > 0)
        self.capacity = capacity
        self.openProducers = producers
    }

    /// Enqueues a chunk, blocking while full. Returns false when the channel was cancelled.
    @discardableResult
    func send(_ chunk: [Element]) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while chunks.count >= capacity && !cancelled { condition.wait() }
        if cancelled { return false }
        chunks.append(chunk)
        condition.broadcast()
        return true
    }

    /// Dequeues a chunk, blocking while empty. Returns nil at the end of the stream or on cancel.
    func receive() -> [Element]? {
        condition.lock()
        defer { condition.unlock() }
        while chunks.isEmpty && openProducers > 0 && !cancelled { condition.wait() }
        if cancelled || chunks.isEmpty { return nil }
        let chunk = chunks.removeFirst()
        condition.broadcast()
        return chunk
    }

    /// One producer is done; when the last one is, consumers drain what is queued and then end.
    func producerFinished() {
        condition.lock()
        openProducers -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Wakes every blocked sender and receiver; later calls return at once.
    func cancel() {
        condition.lock()
        cancelled = true
        chunks.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    /// Chunks queued now, for progress display.
    var fill: Int {
        condition.lock()
        defer { condition.unlock() }
        return chunks.count
    }

    var capacityInChunks: Int { capacity }
}
