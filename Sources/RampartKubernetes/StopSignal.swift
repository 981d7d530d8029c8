import Foundation
import RampartHTTPClient

/// Ends a long-running component at once: wakes its waits and cancels its HTTP transfer in flight.
public final class StopSignal: @unchecked Sendable {
    // NSCondition guards `stopped`; it is the only mutable state.
    private let condition = NSCondition()
    private var stopped = false
    /// Cancels whatever request the owner has in flight when `stop()` is called.
    public let cancellation = HTTPCancellation()

    public init() {}

    public var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
        cancellation.cancel()
    }

    /// Waits up to `seconds`; true when stopped (before or during the wait).
    @discardableResult
    public func wait(seconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: max(0, seconds))
        condition.lock()
        defer { condition.unlock() }
        while !stopped {
            if !condition.wait(until: deadline) { break }
        }
        return stopped
    }
}

/// Capped exponential backoff with jitter: each failure doubles the delay up to `max`; the wait
/// is drawn from the upper half of it so that many clients do not retry in step.
public struct Backoff: Sendable {
    public let initial: Double
    public let max: Double
    private(set) var current: Double

    public init(initial: Double = 0.5, max: Double = 30) {
        self.initial = initial
        self.max = max
        current = initial
    }

    /// The next wait in seconds.
    public mutating func next() -> Double {
        let base = current
        current = Swift.min(current * 2, max)
        return base / 2 + Double.random(in: 0...(base / 2))
    }

    public mutating func reset() { current = initial }
}
