import Testing
@testable import Tensor

struct RandomTests {
    /// Jumping ahead n draws lands where drawing them one by one does, so threads can each take a
    /// piece of one stream.
    @Test func advancingEqualsDrawing() {
        let start = RandomGenerator(seed: 42)
        for n in [0, 1, 2, 63, 64, 65, 1000, 123_457] {
            var drawn = start
            for _ in 0..<n { _ = drawn.next() }
            var jumped = start.advanced(by: UInt64(n))
            #expect(jumped == drawn, "n = \(n)")
            #expect(jumped.next() == drawn.next())
        }
        var twice = start.advanced(by: 1000).advanced(by: 23)
        var once = start.advanced(by: 1023)
        #expect(twice.next() == once.next())
    }

    /// A dropout mask is the serial stream's, one draw per element, on any thread count; the
    /// generator ends where the serial loop would leave it.
    @Test func dropoutMasksDoNotDependOnThreadCount() {
        let x = Tensor.full([3, 70_001], 1)
        var serial = RandomGenerator(seed: 7)
        let expected = (0..<x.count).map { _ in serial.nextUniform() < 0.1 ? Float(0) : 1 / 0.9 }
        let before = ComputeThreads.count
        defer { ComputeThreads.configure(before) }
        for threads in [1, 2] {
            ComputeThreads.configure(threads)
            var rng = RandomGenerator(seed: 7)
            #expect(x.dropout(0.1, training: true, rng: &rng).scalars == expected, "\(threads) threads")
            #expect(rng == serial, "\(threads) threads")
        }
    }
}
