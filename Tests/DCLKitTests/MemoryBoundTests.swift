import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import DCLKit

/// `Encoder.bufferElements` is the memory a forward (and backward) is allowed before it runs, so
/// it must cover what the layers really allocate: the address space a fresh encoder's first
/// call grows by (every tensor, the workspace's scratch, the allocator's rounding),
/// over architectures, stems, widths, sides (one where a sample's im2col columns exceed the
/// workspace's chunk bound), batches and both modes.
final class MemoryBoundTests: XCTestCase {
    /// The process's mappings of OpenBLAS's buffer size (`BLAS.threadBufferBytes`, up to 1 MiB
    /// more for alignment), from /proc/self/maps: its per-thread buffers, none of the encoder's
    /// (these cases' tensors are far smaller).
    private func openBLASBuffers() -> Int {
        guard let file = fopen("/proc/self/maps", "r") else { return 0 }
        defer { fclose(file) }
        var count = 0
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), file) != nil {
            let range = String(cString: line).prefix { $0 != " " }.split(separator: "-").compactMap { Int($0, radix: 16) }
            guard range.count == 2 else { continue }
            let size = range[1] - range[0]
            if size >= BLAS.threadBufferBytes && size <= BLAS.threadBufferBytes + (1 << 20) { count += 1 }
        }
        return count
    }

    func test_the_bound_covers_what_a_first_forward_and_backward_allocate() throws {
        Threads.setCount(2)
        let cases: [(EncoderConfiguration.Architecture, EncoderConfiguration.Stem, Double, Int, Int, Bool)] = [
            (.resnet18, .cifar, 0.25, 32, 8, true), (.resnet18, .cifar, 0.125, 32, 8, false),
            (.resnet18, .cifar, 0.125, 20, 6, true), (.resnet18, .imagenet, 0.125, 64, 4, true),
            (.resnet50, .cifar, 0.0625, 16, 8, true), (.resnet34, .cifar, 0.0625, 24, 3, false),
            (.resnet18, .cifar, 0.25, 96, 2, true),
        ]
        // The process's own one-time costs first (the threads, their stacks, heaps and OpenBLAS
        // buffers): they are not the encoder's. Every case runs once unmeasured, so that each
        // thread that runs an OpenBLAS product in some case has its buffer before the measured
        // pass (which threads do depends on the layers' paths: the direct stem and the small
        // GEMM leave OpenBLAS only some layers).
        // And one malloc arena for all threads: glibc gives a new thread its own (64 MiB of
        // address space) when the others are busy, which is the thread's cost, not the encoder's.
        // (Under a sanitizer, whose allocator replaces glibc's, the call does nothing.)
        let mallopt = unsafeBitCast(dlsym(nil, "mallopt"), to: (@convention(c) (Int32, Int32) -> Int32).self)
        _ = mallopt(-8 /* M_ARENA_MAX */, 1)
        // Dispatch's pool may still hand a chunk of samples to a thread that has never run an
        // OpenBLAS product; its buffer is that thread's one-time cost, which the memory checks
        // count apart (`BLAS.threadBufferElements`), so each new one is allowed here.
        for pass in ["warm-up", "measured"] {
            for (arch, stem, width, side, n, training) in cases {
                let name = "\(arch) \(stem) width \(width), \(n)×\(side)², training \(training)"
                let encoder = Encoder(configuration: try EncoderConfiguration(architecture: arch, stem: stem, width: width, head: .simclr,
                                                                              headHidden: 64, headOutput: 16))
                let x = Tensor(shape: [n, side, side, 3], values: (0..<(n * side * side * 3)).map { Float($0 % 23) / 23 })
                let dz = Tensor(shape: [n, 16], values: [Float](repeating: 0.1, count: n * 16))
                let bound = encoder.bufferElements(inputShape: x.shape, training: training) * MemoryLayout<Float>.stride
                let (before, buffersBefore) = (addressSpace(), openBLASBuffers())
                let (_, z) = encoder.forward(x, training: training)
                if training { encoder.backward(projectionGradient: dz, featureGradient: nil) }
                let newBuffers = openBLASBuffers() - buffersBefore
                let grown = addressSpace() - before - newBuffers * BLAS.threadBufferBytes
                XCTAssertEqual(z?.shape, [n, 16], name)
                if pass == "measured" { XCTAssertLessThanOrEqual(grown, bound, name) }
            }
        }
    }

    func test_sizes_beyond_int_saturate_and_are_refused() throws {
        let encoder = Encoder(configuration: try EncoderConfiguration(width: 0.0625))
        XCTAssertEqual(encoder.bufferElements(inputShape: [Int.max / 2, 1 << 20, 1 << 20, 3], training: true), Int.max)
        XCTAssertThrowsError(try encoder.requireMemory(forInputShape: [Int.max / 2, 1 << 20, 1 << 20, 3], training: true)) { error in
            XCTAssertEqual("\(error)", "out of memory: the size is too large to address")
        }
        XCTAssertThrowsError(try encoder.validate(inputShape: [2, Int.max, Int.max, 3], training: true))
        XCTAssertThrowsError(try Tensor.requireAllocatable(floats: Int.max / 2))
        XCTAssertNoThrow(try Tensor.requireAllocatable(floats: 1 << 20))
    }

    func test_a_granted_shape_covers_every_shape_no_larger_on_any_axis() {
        var granted = GrantedShapes()
        var asked: [[Int]] = []
        for key in [[4, 8, 8, 1], [4, 8, 8, 1], [2, 8, 8, 0], [4, 9, 8, 1], [2, 9, 8, 1], [8, 8, 8, 0], [4, 8, 8, 0, 1]] {
            granted.grant(key) { asked.append(key) }
        }
        XCTAssertEqual(asked, [[4, 8, 8, 1], [4, 9, 8, 1], [8, 8, 8, 0], [4, 8, 8, 0, 1]])
        var refused = GrantedShapes()
        XCTAssertThrowsError(try refused.grant([1]) { throw TensorError.outOfMemory(bytes: 1) })
        var askedAgain = false
        refused.grant([1]) { askedAgain = true }
        XCTAssertTrue(askedAgain, "a refused shape is asked again")
    }
}

extension XCTestCase {
    /// The process's address space in bytes (VmSize): what the memory-bound tests compare their
    /// bounds with.
    func addressSpace() -> Int {
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 128)
        let count = read(fd, &bytes, bytes.count)
        let pages = Int(String(decoding: bytes.prefix(max(count, 0)).prefix { $0 != 0x20 }, as: UTF8.self)) ?? 0
        return pages * sysconf(Int32(_SC_PAGESIZE))
    }
}
