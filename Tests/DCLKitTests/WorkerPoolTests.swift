import Dispatch
import XCTest
@testable import DCLKit

/// `WorkerPool` runs every iteration of a region exactly once, back to back, inside another
/// region and from several threads at once.
final class WorkerPoolTests: XCTestCase {
    /// Runs `regions` regions of `n` iterations, each adding 1 to its own slot; returns the slots.
    private func counts(_ n: Int, regions: Int) -> [Int] {
        var slots = [Int](repeating: 0, count: n)
        slots.withUnsafeMutableBufferPointer { buffer in
            let p = buffer.baseAddress!
            for _ in 0..<regions { WorkerPool.shared.run(n) { p[$0] += 1 } }
        }
        return slots
    }

    func test_every_iteration_of_back_to_back_regions_runs_once() {
        for n in 0...9 {
            XCTAssertEqual(counts(n, regions: 300), [Int](repeating: 300, count: n), "\(n) iterations")
        }
    }

    func test_regions_inside_regions_and_from_several_threads_run_every_iteration_once() {
        let (outer, inner, callers) = (3, 5, 4)
        var slots = [Int](repeating: 0, count: callers * outer * inner)
        slots.withUnsafeMutableBufferPointer { buffer in
            let p = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: callers) { c in
                for _ in 0..<50 {
                    WorkerPool.shared.run(outer) { o in
                        WorkerPool.shared.run(inner) { i in p[(c * outer + o) * inner + i] += 1 }
                    }
                }
            }
        }
        XCTAssertEqual(slots, [Int](repeating: 50, count: callers * outer * inner))
    }
}
