@testable import DCLKit
import XCTest

/// The chunk bounds of `Workspace`: cache-sized for the small GEMM's layers, the workspace's bound
/// for OpenBLAS's; `forEachChunk` runs every chunk once, with bounds that do not depend on the threads.
final class WorkspaceTests: XCTestCase {
    func testSmallGemmChunksAreCacheSizedWithinTheBound() {
        let cache = Workspace.cacheSizedColumnElements
        XCTAssert((1 << 15)...(1 << 20) ~= cache, "\(cache)")
        let l2 = sysconf(Int32(_SC_LEVEL2_CACHE_SIZE))
        if l2 > 0 { XCTAssertEqual(cache, min(max(l2 / 16, 1 << 15), 1 << 20)) }
        let workspace = Workspace()
        XCTAssertEqual(workspace.chunkElements(smallProducts: true), min(cache, workspace.columnElements))
        XCTAssertEqual(workspace.chunkElements(smallProducts: false), workspace.columnElements)
        // A tighter bound (tests use tiny ones to force many chunks) holds for both.
        let tight = Workspace(columnElements: 64)
        XCTAssertEqual(tight.chunkElements(smallProducts: true), 64)
        XCTAssertEqual(tight.chunkElements(smallProducts: false), 64)
    }

    func test_forEachChunk_runs_each_chunk_once_with_bounds_set_by_n_and_size() {
        let threads = Threads.count
        defer { Threads.setCount(threads) }
        for count in [1, 2, 3] {
            Threads.setCount(count)
            let workspace = Workspace()
            for (n, size) in [(0, 3), (1, 3), (10, 3), (12, 4), (7, 10), (64, 1)] {
                var starts = [Int](repeating: 0, count: n)  // per item: 1 + its chunk's start, once
                var workersSeen = [Int](repeating: -1, count: n)
                starts.withUnsafeMutableBufferPointer { s in
                    workersSeen.withUnsafeMutableBufferPointer { w in
                        let (s, w) = (s.baseAddress!, w.baseAddress!)
                        workspace.forEachChunk(n, size: size) { worker, chunk in
                            for i in chunk { s[i] += 1 + chunk.lowerBound; w[i] = worker }
                        }
                    }
                }
                XCTAssertEqual(starts, (0..<n).map { 1 + $0 / size * size }, "\(count) threads, n \(n), size \(size)")
                let workers = workspace.workers(for: (n + size - 1) / size)
                XCTAssert(workersSeen.allSatisfy { (0..<workers).contains($0) }, "\(count) threads, n \(n): \(workersSeen)")
            }
        }
    }
}
