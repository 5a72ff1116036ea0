@testable import DCLKit
import XCTest

/// Once a product has run, no OpenBLAS buffer is missing, and products on every worker of a
/// parallel region at once map none: the memory checks' count (`OpenBLASBuffers.missing`) holds
/// whatever threads ran products before.
final class OpenBLASBuffersTests: XCTestCase {
    func test_products_on_every_worker_at_once_map_no_buffer_after_the_first_product() {
        let (count, side) = (max(Threads.count, 2), 384)
        let threads = Threads.count
        defer { Threads.setCount(threads) }
        Threads.setCount(count)
        let a = [Float](repeating: 0.5, count: side * side)
        var c = [Float](repeating: 0, count: count * side * side)
        BLAS.gemm(m: side, n: side, k: side, a: a, lda: side, b: a, ldb: side, c: &c, ldc: side)
        XCTAssertEqual(OpenBLASBuffers.missing, 0)
        XCTAssertEqual(BLAS.threadBufferElements, 0)
        let before = addressSpace()
        let workspace = Workspace()
        c.withUnsafeMutableBufferPointer { outputs in
            let outputs = outputs.baseAddress!
            for _ in 0..<10 {
                workspace.forEachWorker(count) { worker, _ in
                    for _ in 0..<4 {
                        BLAS.gemm(m: side, n: side, k: side, a: a, lda: side, b: a, ldb: side, c: outputs + worker * side * side, ldc: side)
                    }
                }
            }
        }
        XCTAssertLessThan(addressSpace() - before, BLAS.threadBufferBytes, "a product mapped an OpenBLAS buffer the checks did not count")
        XCTAssertEqual(c.last, Float(side) * 0.25)
    }
}
