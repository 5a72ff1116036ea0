import XCTest
@testable import DCLKit

/// W ranks as threads of this process: each collective posts the rank's buffer in a shared slot,
/// waits at a barrier, reads the others' slots and waits again. The sum is formed in rank order
/// on every rank, so every rank gets the same bytes (the `Communicator` contract).
final class ThreadGroup {
    let size: Int
    private var barrier = pthread_barrier_t()
    fileprivate let slots: UnsafeMutablePointer<UnsafeRawPointer?>

    init(size: Int) {
        self.size = size
        slots = .allocate(capacity: size)
        slots.initialize(repeating: nil, count: size)
        pthread_barrier_init(&barrier, nil, UInt32(size))
    }

    deinit {
        pthread_barrier_destroy(&barrier)
        slots.deallocate()
    }

    func wait() { pthread_barrier_wait(&barrier) }

    /// Runs `body` on `size` threads, one per rank, and returns each rank's thrown error (or nil).
    func run(_ body: @escaping (Communicator) throws -> Void) -> [DistributedError?] {
        let errors = Outcomes(size)
        let done = DispatchGroup()
        for rank in 0..<size {
            done.enter()
            let member = Member(group: self, rank: rank)
            Thread {
                do { try body(member) } catch { errors.slots[rank] = error as? DistributedError ?? .invalid("\(error)") }
                done.leave()
            }.start()
        }
        done.wait()
        return Array(UnsafeBufferPointer(start: errors.slots, count: size))
    }
}

/// One error slot per rank thread; each thread writes only its own slot.
private final class Outcomes: @unchecked Sendable {
    let slots: UnsafeMutablePointer<DistributedError?>

    init(_ count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
    }

    deinit { slots.deallocate() }
}

private final class Member: Communicator {
    let group: ThreadGroup
    let rank: Int
    var size: Int { group.size }

    init(group: ThreadGroup, rank: Int) {
        self.group = group
        self.rank = rank
    }

    func allreduceSum(_ buffer: UnsafeMutableRawPointer, count: Int, element: CollectiveElement) throws {
        group.slots[rank] = UnsafeRawPointer(buffer)
        group.wait()
        let total = UnsafeMutableRawPointer.allocate(byteCount: count * element.byteCount, alignment: 8)
        defer { total.deallocate() }
        func add<T: AdditiveArithmetic>(_: T.Type) {
            let out = total.bindMemory(to: T.self, capacity: count)
            for i in 0..<count { out[i] = .zero }
            for r in 0..<size {
                let part = group.slots[r]!.assumingMemoryBound(to: T.self)
                for i in 0..<count { out[i] += part[i] }
            }
        }
        switch element {
        case .float32: add(Float.self)
        case .float64: add(Double.self)
        case .int64: add(Int64.self)
        }
        group.wait()
        buffer.copyMemory(from: total, byteCount: count * element.byteCount)
    }

    func allgather(_ send: UnsafeRawPointer, count: Int, element: CollectiveElement, into receive: UnsafeMutableRawPointer) throws {
        group.slots[rank] = send
        group.wait()
        let bytes = count * element.byteCount
        for r in 0..<size { (receive + r * bytes).copyMemory(from: group.slots[r]!, byteCount: bytes) }
        group.wait()
    }

    func broadcast(_ buffer: UnsafeMutableRawPointer, count: Int, element: CollectiveElement, root: Int) throws {
        group.slots[rank] = UnsafeRawPointer(buffer)
        group.wait()
        if rank != root { buffer.copyMemory(from: group.slots[root]!, byteCount: count * element.byteCount) }
        group.wait()
    }
}

final class DistributedTests: XCTestCase {
    private func rows(_ shape: [Int], rank: Int, salt: UInt64) -> Tensor {
        GradientCheck.random(shape, seed: salt &* 31 &+ UInt64(rank))
    }

    func testGradientAllreduceSplitsTensorsOverBucketsAndLeavesTheSameMeanOnEveryRank() {
        let ranks = 3, shapes = [[5], [7, 3], [2]]
        let results = UnsafeMutablePointer<[Float]>.allocate(capacity: ranks)
        results.initialize(repeating: [], count: ranks)
        defer { results.deallocate() }
        var buckets = 0
        let errors = ThreadGroup(size: ranks).run { comm in
            let parameters = shapes.map { Parameter(name: "w", shape: $0, decays: true) }
            for (p, parameter) in parameters.enumerated() {
                let g = self.rows(parameter.gradient.shape, rank: comm.rank, salt: UInt64(p))
                parameter.gradient.data.update(from: g.data, count: g.count)
            }
            let reducer = try BucketedAverage(parameters: parameters, bucketCapacity: 4)
            if comm.rank == 0 { buckets = reducer.bucketSizes.count }
            try reducer.average(over: comm)
            results[comm.rank] = parameters.flatMap { Array($0.gradient.buffer) }
        }
        XCTAssertEqual(errors.compactMap { $0 }, [])
        XCTAssertEqual(buckets, 7)  // 28 floats in buckets of 4, tensors cut across bucket edges
        var expected: [Double] = []
        for (p, shape) in shapes.enumerated() {
            let each = (0..<ranks).map { rows(shape, rank: $0, salt: UInt64(p)) }
            for i in 0..<each[0].count { expected.append(each.reduce(0.0) { $0 + Double($1[i]) } / Double(ranks)) }
        }
        for i in expected.indices { XCTAssertEqual(Double(results[0][i]), expected[i], accuracy: 1e-6) }
        for r in 1..<ranks { XCTAssertEqual(results[r], results[0], "rank \(r) differs from rank 0") }
    }

    func testProjectionGatherForwardConcatenatesAndBackwardSumsOwnRows() {
        let ranks = 2, b = 3, d = 4
        let errors = ThreadGroup(size: ranks).run { comm in
            let gather = ProjectionGather(communicator: comm)
            let gathered = try gather.forward(self.rows([b, d], rank: comm.rank, salt: 1))
            for r in 0..<ranks {
                let z = self.rows([b, d], rank: r, salt: 1)
                for i in 0..<(b * d) where gathered[r * b * d + i] != z[i] { throw DistributedError.invalid("forward row of rank \(r)") }
            }
            let local = try gather.backward(self.rows([ranks * b, d], rank: comm.rank, salt: 2))
            let all = (0..<ranks).map { self.rows([ranks * b, d], rank: $0, salt: 2) }
            for i in 0..<(b * d) {
                let want = all.reduce(Float(0)) { $0 + $1[comm.rank * b * d + i] }
                if abs(local[i] - want) > 1e-6 { throw DistributedError.invalid("backward entry \(i): \(local[i]) vs \(want)") }
            }
        }
        XCTAssertEqual(errors.compactMap { $0 }, [])
    }

    func testKeyShuffleUnshuffleRestoresEveryRanksRows() {
        let ranks = 3, b = 2, d = 5
        let errors = ThreadGroup(size: ranks).run { comm in
            let shuffle = KeyShuffle(communicator: comm)
            let mine = self.rows([b, d], rank: comm.rank, salt: 3)
            let shuffled = try shuffle.shuffle(mine, seed: 9, step: 1)
            if Set(shuffle.permutation) != Set((0..<Int64(ranks * b))) { throw DistributedError.invalid("not a permutation") }
            let back = try shuffle.unshuffle(shuffled)  // the identity "encoder"
            if Array(back.buffer) != Array(mine.buffer) { throw DistributedError.invalid("rank \(comm.rank) lost its rows") }
        }
        XCTAssertEqual(errors.compactMap { $0 }, [])
    }

    func testSyncBatchStatisticsEqualThoseOfTheConcatenatedBatch() {
        let ranks = 2, channels = 3
        var values: [[Double]] = []
        for r in 0..<ranks {
            var x: [Double] = []
            for i in 0..<((2 + r) * channels) { x.append(10 + Double(i * 7 % 11) * 0.5 - Double(r)) }
            values.append(x)
        }
        let errors = ThreadGroup(size: ranks).run { [values] comm in
            let x = values[comm.rank], n = x.count / channels
            var sum = [Double](repeating: 0, count: channels), squares = sum
            for i in 0..<n { for c in 0..<channels { sum[c] += x[i * channels + c]; squares[c] += x[i * channels + c] * x[i * channels + c] } }
            var mean = [Double](repeating: 0, count: channels), variance = mean
            let reduction = try SyncBatchStatistics(channels: channels, communicator: comm)
            let total = try sum.withUnsafeBufferPointer { s in
                try squares.withUnsafeBufferPointer { s2 in
                    try mean.withUnsafeMutableBufferPointer { m in
                        try variance.withUnsafeMutableBufferPointer { v in
                            try reduction.meanAndVariance(sum: s, sumOfSquares: s2, count: n, mean: m, variance: v)
                        }
                    }
                }
            }
            let all = values.flatMap { $0 }, count = all.count / channels
            guard total == count else { throw DistributedError.invalid("count \(total) vs \(count)") }
            for c in 0..<channels {
                let column = (0..<count).map { all[$0 * channels + c] }
                let m = column.reduce(0, +) / Double(count)
                let v = column.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(count)
                if abs(mean[c] - m) > 1e-12 || abs(variance[c] - v) > 1e-10 { throw DistributedError.invalid("channel \(c)") }
            }
        }
        XCTAssertEqual(errors.compactMap { $0 }, [])
    }

    func testConfigurationMismatchAndIndivisibleBatchThrowTheSameErrorOnEveryRank() {
        let group = ThreadGroup(size: 2)
        let mismatch = group.run { try ConfigurationAgreement.check($0.rank == 0 ? "{\"a\":1}" : "{\"a\":2}", communicator: $0) }
        XCTAssertEqual(mismatch.compactMap { $0 }.count, 2)
        XCTAssertEqual(mismatch[0], mismatch[1])
        XCTAssertTrue(mismatch[0]!.description.contains("rank 1 has"))
        XCTAssertEqual(group.run { try ConfigurationAgreement.check("same", communicator: $0) }.compactMap { $0 }, [])
        let indivisible = group.run { _ = try BatchShare(global: 5, communicator: $0) }
        XCTAssertEqual(indivisible[0], indivisible[1])
        XCTAssertEqual(indivisible[0], .invalid("batch_size 5 is the global batch and must be divisible by the 2 ranks; use 4 or 6"))
        _ = group.run { comm in
            let share = try BatchShare(global: 6, communicator: comm)
            XCTAssertEqual(share, BatchShare(global: 6, local: 3, offset: 3 * comm.rank))
        }
    }

    func testCallbackCommunicatorThrowsTheCallbacksMessage() throws {
        let failing: CallbackCommunicator.Allreduce = { _, _, _, _, message, capacity in
            _ = "link down".withCString { strncpy(message!, $0, Int(capacity) - 1) }
            return 3
        }
        let gather: CallbackCommunicator.Allgather = { _, _, _, _, _, _, _ in 0 }
        let broadcast: CallbackCommunicator.Broadcast = { _, _, _, _, _, _, _ in 7 }
        let comm = try CallbackCommunicator(rank: 1, size: 2, allreduce: failing, allgather: gather, broadcast: broadcast, context: nil)
        var x: [Float] = [1, 2]
        XCTAssertThrowsError(try x.withUnsafeMutableBufferPointer { try comm.allreduceSum($0) }) {
            XCTAssertEqual($0 as? DistributedError, .collectiveFailed(operation: "allreduce", message: "link down"))
        }
        XCTAssertThrowsError(try x.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }) {
            XCTAssertEqual($0 as? DistributedError, .collectiveFailed(operation: "broadcast", message: "the transport returned status 7"))
        }
        XCTAssertThrowsError(try CallbackCommunicator(rank: 2, size: 2, allreduce: failing, allgather: gather, broadcast: broadcast, context: nil))
    }

    func testSingleProcessPiecesLeaveValuesAsTheyAre() throws {
        let comm = SingleProcessCommunicator()
        let z = rows([4, 3], rank: 0, salt: 5)
        let gather = ProjectionGather(communicator: comm)
        XCTAssertEqual(Array(try gather.forward(z).buffer), Array(z.buffer))
        XCTAssertEqual(Array(try gather.backward(z).buffer), Array(z.buffer))
        let p = Parameter(name: "w", shape: [3], decays: true)
        p.gradient.data.update(from: z.data, count: 3)
        try BucketedAverage(parameters: [p]).average(over: comm)
        XCTAssertEqual(Array(p.gradient.buffer), Array(z.buffer.prefix(3)))
        XCTAssertEqual(try BatchShare(global: 7, communicator: comm), BatchShare(global: 7, local: 7, offset: 0))
    }

    func testProjectionGatherWithTwoViewsIsViewMajorAndBackwardInvertsIt() {
        let ranks = 2, b = 2, d = 3
        let errors = ThreadGroup(size: ranks).run { comm in
            let gather = ProjectionGather(communicator: comm)
            let all = try gather.forward(self.rows([2 * b, d], rank: comm.rank, salt: 6), views: 2)
            for v in 0..<2 {
                for k in 0..<ranks {
                    let z = self.rows([2 * b, d], rank: k, salt: 6)
                    for i in 0..<(b * d) where all[(v * ranks + k) * b * d + i] != z[v * b * d + i] {
                        throw DistributedError.invalid("view \(v) of rank \(k) is not at block \(v * ranks + k)")
                    }
                }
            }
            // The same gradient on every rank: each rank gets ranks × its own rows back.
            let local = try gather.backward(all, views: 2)
            let mine = self.rows([2 * b, d], rank: comm.rank, salt: 6)
            for i in 0..<(2 * b * d) where local[i] != Float(ranks) * mine[i] {
                throw DistributedError.invalid("backward entry \(i) of rank \(comm.rank)")
            }
        }
        XCTAssertEqual(errors.compactMap { $0 }, [])
    }

    /// SyncBN: BatchNorm on two ranks of 3 and 5 rows with the hook equals one BatchNorm of the
    /// 8 rows (output, running statistics, dL/dx; dL/dγ and dL/dβ summed over the ranks).
    func testSynchronizedBatchNormEqualsBatchNormOfTheConcatenatedBatch() {
        let channels = 4, counts = [3, 5]
        let inputs = counts.enumerated().map { r, n in GradientCheck.random([n, channels], seed: 60 + UInt64(r), scale: 2) }
        for x in inputs { for i in 0..<x.count { x[i] += 5 } }  // a mean far from 0
        let gradients = counts.enumerated().map { r, n in GradientCheck.random([n, channels], seed: 70 + UInt64(r)) }
        let whole = BatchNorm(channels: channels, relu: true)
        let x = Tensor(shape: [8, channels]), g = Tensor(shape: [8, channels])
        x.data.update(from: inputs[0].data, count: 3 * channels)
        (x.data + 3 * channels).update(from: inputs[1].data, count: 5 * channels)
        g.data.update(from: gradients[0].data, count: 3 * channels)
        (g.data + 3 * channels).update(from: gradients[1].data, count: 5 * channels)
        let y = whole.forward(x, training: true).clone()
        let dx = whole.backward(g.clone()).clone()
        let results = UnsafeMutablePointer<[[Float]]>.allocate(capacity: 2)
        results.initialize(repeating: [], count: 2)
        defer { results.deallocate() }
        let errors = ThreadGroup(size: 2).run { comm in
            let norm = BatchNorm(channels: channels, relu: true)
            norm.synchronization = try SyncBatchStatistics(channels: channels, communicator: comm)
            let out = norm.forward(inputs[comm.rank], training: true).toArray()
            let back = norm.backward(gradients[comm.rank].clone()).toArray()
            results[comm.rank] = [out, back, norm.runningMean.toArray(), norm.runningVariance.toArray(),
                                  norm.weight.gradient.toArray(), norm.bias.gradient.toArray()]
        }
        XCTAssertEqual(errors.compactMap { $0 }, [])
        XCTAssertEqual(results[0][0] + results[1][0], y.toArray(), accuracy: 1e-5)
        XCTAssertEqual(results[0][1] + results[1][1], dx.toArray(), accuracy: 1e-5)
        for r in 0..<2 {
            XCTAssertEqual(results[r][2], whole.runningMean.toArray(), accuracy: 1e-6)
            XCTAssertEqual(results[r][3], whole.runningVariance.toArray(), accuracy: 1e-6)
        }
        XCTAssertEqual(zip(results[0][4], results[1][4]).map(+), whole.weight.gradient.toArray(), accuracy: 1e-5)
        XCTAssertEqual(zip(results[0][5], results[1][5]).map(+), whole.bias.gradient.toArray(), accuracy: 1e-5)
        // Rank 0's own 3 rows alone normalise differently: the global statistics were used.
        let alone = BatchNorm(channels: channels, relu: true).forward(inputs[0], training: true).toArray()
        XCTAssertGreaterThan(zip(alone, results[0][0]).map { abs($0 - $1) }.max()!, 1e-2)
    }

    /// SyncBN with two statistics groups: each rank's batch (6 and 10 rows) splits into halves,
    /// and group k normalises over the k-th halves of both ranks (3 + 5 rows): the output and
    /// dL/dx equal one BatchNorm per group of those rows, and the running statistics those of one
    /// layer called on the first groups' rows, then the second's.
    func testSynchronizedBatchNormWithStatisticsGroupsEqualsBatchNormOfEachGroupsConcatenation() {
        let channels = 3, halves = [3, 5]
        let inputs = halves.enumerated().map { r, n in GradientCheck.random([2 * n, channels], seed: 80 + UInt64(r), scale: 2) }
        for x in inputs { for i in (x.count / 2)..<x.count { x[i] += 4 } }  // the second group's own mean
        let gradients = halves.enumerated().map { r, n in GradientCheck.random([2 * n, channels], seed: 90 + UInt64(r)) }
        /// Group k's rows of every rank, rank 0's first.
        func group(_ tensors: [Tensor], _ k: Int) -> Tensor {
            let values = zip(tensors, halves).flatMap { t, n in Array(t.toArray()[(k * n * channels)..<((k + 1) * n * channels)]) }
            return Tensor(shape: [values.count / channels, channels], values: values)
        }
        let sequential = BatchNorm(channels: channels, relu: true)
        var outputs: [[Float]] = [], inputGradients: [[Float]] = []
        for k in 0..<2 {
            let norm = BatchNorm(channels: channels, relu: true)
            outputs.append(norm.forward(group(inputs, k), training: true).toArray())
            inputGradients.append(norm.backward(group(gradients, k)).toArray())
            sequential.forward(group(inputs, k), training: true)
        }
        let results = UnsafeMutablePointer<[[Float]]>.allocate(capacity: 2)
        results.initialize(repeating: [], count: 2)
        defer { results.deallocate() }
        let errors = ThreadGroup(size: 2).run { comm in
            let norm = BatchNorm(channels: channels, relu: true)
            norm.statisticsGroups = 2
            norm.synchronization = try SyncBatchStatistics(channels: channels, communicator: comm)
            let out = norm.forward(inputs[comm.rank], training: true).toArray()
            let back = norm.backward(gradients[comm.rank].clone()).toArray()
            results[comm.rank] = [out, back, norm.runningMean.toArray(), norm.runningVariance.toArray(), norm.batchesTracked.toArray()]
        }
        XCTAssertEqual(errors.compactMap { $0 }, [])
        for (k, expected) in outputs.enumerated() {
            let (a, b) = (halves[0] * channels, halves[1] * channels)
            let got = Array(results[0][0][(k * a)..<((k + 1) * a)]) + Array(results[1][0][(k * b)..<((k + 1) * b)])
            XCTAssertEqual(got, expected, accuracy: 1e-5)
            let back = Array(results[0][1][(k * a)..<((k + 1) * a)]) + Array(results[1][1][(k * b)..<((k + 1) * b)])
            XCTAssertEqual(back, inputGradients[k], accuracy: 1e-5)
        }
        for r in 0..<2 {
            XCTAssertEqual(results[r][2], sequential.runningMean.toArray(), accuracy: 1e-6)
            XCTAssertEqual(results[r][3], sequential.runningVariance.toArray(), accuracy: 1e-6)
            XCTAssertEqual(results[r][4], [2])
        }
    }

    func testTrainingCommunicatorKeepsTheFirstFailureAndStopsCallingTheTransport() throws {
        final class Failing: Communicator {
            var calls = 0
            let rank = 0, size = 2
            func allreduceSum(_ buffer: UnsafeMutableRawPointer, count: Int, element: CollectiveElement) throws {
                calls += 1
                throw DistributedError.collectiveFailed(operation: "allreduce", message: "peer gone")
            }
            func allgather(_ send: UnsafeRawPointer, count: Int, element: CollectiveElement, into receive: UnsafeMutableRawPointer) throws { calls += 1 }
            func broadcast(_ buffer: UnsafeMutableRawPointer, count: Int, element: CollectiveElement, root: Int) throws { calls += 1 }
        }
        let base = Failing(), comm = TrainingCommunicator(base)
        XCTAssertNoThrow(try comm.throwIfFailed())
        XCTAssertThrowsError(try comm.sum(1))
        var x: [Int64] = [1]
        XCTAssertThrowsError(try x.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }) {
            XCTAssertEqual($0 as? DistributedError, .collectiveFailed(operation: "allreduce", message: "peer gone"))
        }
        XCTAssertEqual(base.calls, 1)
        XCTAssertThrowsError(try comm.throwIfFailed())
        // A BatchNorm hook over it keeps its own totals and leaves the failure for the step.
        let reduction = try SyncBatchStatistics(channels: 1, communicator: comm)
        var totals: [Double] = [2, 3]
        XCTAssertEqual(reduction.sumOverGlobalBatch(&totals, count: 2, values: 4), 4)
        XCTAssertEqual(totals, [2, 3])
    }
}

private func XCTAssertEqual(_ a: [Float], _ b: [Float], accuracy: Float, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy * max(1, abs(y)), file: file, line: line) }
}
