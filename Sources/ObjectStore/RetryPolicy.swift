import Foundation

/// How often and how patiently a request is tried again after a transient failure (5xx,
/// throttling, a dropped connection, a timeout): exponential backoff with full jitter, as AWS's
/// own SDKs do, so many readers that failed together do not come back together.
public struct RetryPolicy: Sendable, Equatable {
    /// Tries in all, the first included.
    public var attempts: Int
    /// The first pause; each later one doubles, up to `maxDelay`.
    public var baseDelay: Double
    public var maxDelay: Double

    /// 9 tries over 8-16 s of pauses: enough for a server restart or a burst of throttling.
    public init(attempts: Int = 9, baseDelay: Double = 0.1, maxDelay: Double = 5) {
        self.attempts = max(1, attempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// No retries: the first failure is final.
    public static let none = RetryPolicy(attempts: 1)

    /// The pause before try number `attempt + 1` (after `attempt` failures, counting from 1).
    func delay(after attempt: Int) -> Double {
        let ceiling = min(maxDelay, baseDelay * Double(1 << min(attempt - 1, 20)))
        return Double.random(in: ceiling / 2...ceiling)
    }

    /// Runs `body` until it succeeds, fails with a non-transient error, or the tries run out.
    func run<T>(_ body: (_ attempt: Int) throws(ObjectStoreError) -> T) throws(ObjectStoreError) -> T {
        var attempt = 1
        while true {
            do {
                return try body(attempt)
            } catch where error.code.isTransient && attempt < attempts {
                Thread.sleep(forTimeInterval: delay(after: attempt))
                attempt += 1
            } catch {
                guard error.code.isTransient && attempts > 1 else { throw error }
                var final = error
                final.reason += " (gave up after \(attempts) tries)"
                throw final
            }
        }
    }
}
