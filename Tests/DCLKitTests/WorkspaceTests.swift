@testable import DCLKit
import XCTest

/// The chunk bounds of `Workspace`: cache-sized for the small GEMM's layers, the workspace's bound for OpenBLAS's.
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
}
