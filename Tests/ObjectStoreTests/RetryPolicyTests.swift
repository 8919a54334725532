import Testing
@testable import ObjectStore

/// Which failures are tried again, and how patiently.
struct RetryPolicyTests {
    let quick = RetryPolicy(attempts: 4, baseDelay: 0.001, maxDelay: 0.002)

    @Test func transientFailuresAreRetriedUntilSuccess() throws {
        var tries = 0
        let value = try quick.run { attempt throws(ObjectStoreError) -> Int in
            tries = attempt
            if attempt < 3 { throw ObjectStoreError(attempt == 1 ? .throttled : .serverError, status: 503, "busy") }
            return 42
        }
        #expect(value == 42 && tries == 3)
    }

    @Test func permanentFailuresAreNot() {
        var tries = 0
        let error = #expect(throws: ObjectStoreError.self) {
            try quick.run { attempt throws(ObjectStoreError) in
                tries = attempt
                throw ObjectStoreError(.accessDenied, bucket: "b", key: "k", status: 403, "denied")
            }
        }
        #expect(tries == 1 && error?.code == .accessDenied)
    }

    @Test func givingUpSaysHowManyTries() {
        let error = #expect(throws: ObjectStoreError.self) {
            try quick.run { _ throws(ObjectStoreError) in throw ObjectStoreError(.timeout, "stalled") }
        }
        #expect(error?.description == "stalled (gave up after 4 tries)")
    }

    @Test func delaysGrowAndStayUnderTheCap() {
        let policy = RetryPolicy(attempts: 10, baseDelay: 0.1, maxDelay: 2)
        #expect((0.05...0.1).contains(policy.delay(after: 1)))
        #expect((0.2...0.4).contains(policy.delay(after: 3)))
        #expect((1...2).contains(policy.delay(after: 9)))
    }
}
