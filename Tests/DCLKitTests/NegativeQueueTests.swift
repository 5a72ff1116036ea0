import XCTest
@testable import DCLKit

/// The ring buffer of keys: start state, FIFO order, wrap-around, checkpoint state.
final class NegativeQueueTests: XCTestCase {
    /// Key number `i` of dimension 2: the unit vector at angle i (distinct for small i).
    private func key(_ i: Int) -> [Float] { [Float(cos(Double(i))), Float(sin(Double(i)))] }

    private func rows(_ queue: NegativeQueue) -> [[Float]] {
        (0..<queue.size).map { Array(queue.keys.toArray()[$0 * 2 ..< $0 * 2 + 2]) }
    }

    /// The queue's rows are keys `ids`, in order (to float rounding: enqueue renormalises).
    private func assertRows(_ queue: NegativeQueue, _ ids: [Int], line: UInt = #line) {
        for (r, id) in ids.enumerated() {
            for (a, b) in zip(rows(queue)[r], key(id)) { XCTAssertEqual(a, b, accuracy: 1e-6, "row \(r)", line: line) }
        }
    }

    private func enqueue(_ queue: NegativeQueue, _ ids: [Int]) {
        queue.enqueue(ids.flatMap(key), count: ids.count)
    }

    func test_new_queue_holds_seeded_unit_vectors() {
        let a = NegativeQueue(size: 10, dim: 5, seed: 3)
        for r in 0..<10 {
            let norm = (0..<5).map { a.keys[r * 5 + $0] * a.keys[r * 5 + $0] }.reduce(0, +)
            XCTAssertEqual(norm, 1, accuracy: 1e-5)
        }
        XCTAssertEqual(a.pointer, 0)
        XCTAssertEqual(a.keys.toArray(), NegativeQueue(size: 10, dim: 5, seed: 3).keys.toArray())
        XCTAssertNotEqual(a.keys.toArray(), NegativeQueue(size: 10, dim: 5, seed: 4).keys.toArray())
    }

    /// K = 6, batches of 2: the fourth batch overwrites the first (the oldest), in order.
    func test_enqueue_is_first_in_first_out_with_wrap_around() {
        let queue = NegativeQueue(size: 6, dim: 2, seed: 0)
        enqueue(queue, [0, 1])
        XCTAssertEqual(queue.pointer, 2)
        enqueue(queue, [2, 3])
        enqueue(queue, [4, 5])
        XCTAssertEqual(queue.pointer, 0)
        assertRows(queue, Array(0..<6))
        enqueue(queue, [6, 7])
        XCTAssertEqual(queue.pointer, 2)
        assertRows(queue, [6, 7, 2, 3, 4, 5])
    }

    /// A batch that does not divide K wraps mid-way: its tail goes to the front rows.
    func test_batch_crossing_the_end_wraps_to_the_front() {
        let queue = NegativeQueue(size: 5, dim: 2, seed: 0)
        enqueue(queue, [0, 1, 2])
        enqueue(queue, [3, 4, 5])
        XCTAssertEqual(queue.pointer, 1)
        assertRows(queue, [5, 1, 2, 3, 4])
    }

    func test_enqueued_keys_are_normalised() {
        let queue = NegativeQueue(size: 2, dim: 2, seed: 0)
        queue.enqueue([3, 4, 0, -2], count: 2)
        XCTAssertEqual(queue.keys.toArray(), [0.6, 0.8, 0, -1])
    }

    func test_state_round_trips_and_rejects_a_mismatch() throws {
        let queue = NegativeQueue(size: 4, dim: 2, seed: 1)
        enqueue(queue, [7])
        let state = Dictionary(uniqueKeysWithValues: queue.stateTensors().map { ($0.name, $0.tensor) })
        let restored = NegativeQueue(size: 4, dim: 2, seed: 2)
        try restored.restore(keys: state[restored.keysName]!, pointer: state[restored.pointerName]!)
        XCTAssertEqual(restored.keys.toArray(), queue.keys.toArray())
        XCTAssertEqual(restored.pointer, 1)
        let other = NegativeQueue(size: 4, dim: 3, seed: 0)
        XCTAssertThrowsError(try other.restore(keys: state[other.keysName]!, pointer: state[other.pointerName]!))
        XCTAssertThrowsError(try restored.restore(keys: queue.keys, pointer: Tensor(shape: [1], values: [4])))
        XCTAssertThrowsError(try restored.restore(keys: queue.keys, pointer: Tensor(shape: [1], values: [0.5])))
    }
}
