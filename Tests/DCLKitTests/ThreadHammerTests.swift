import Dispatch
import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import DCLKit

/// Several threads at once on the core, as the Python face drives it: calls on one object are
/// serialised by that object's lock (here a mutex per object, as the Python face holds), calls
/// on different objects run concurrently, and each call runs its own parallel loops. Run under
/// ThreadSanitizer and AddressSanitizer by `make sanitize`; without them it checks that every
/// thread gets the results a single thread gets.
final class ThreadHammerTests: XCTestCase {
    /// A pthread mutex guarding one object, standing in for the Python face's per-object lock.
    private final class Guarded<Object> {
        let object: Object
        private var mutex = pthread_mutex_t()
        init(_ object: Object) {
            self.object = object
            pthread_mutex_init(&mutex, nil)
        }
        deinit { pthread_mutex_destroy(&mutex) }
        func with<T>(_ body: (Object) throws -> T) rethrows -> T {
            pthread_mutex_lock(&mutex)
            defer { pthread_mutex_unlock(&mutex) }
            return try body(object)
        }
    }

    func test_threads_sharing_encoders_and_pipelines_get_single_thread_results() throws {
        Threads.setCount(2)
        let configuration = try EncoderConfiguration(width: 0.0625, head: .simclr, headHidden: 8, headOutput: 4)
        let encoders = [Guarded(Encoder(configuration: configuration, seed: 1)), Guarded(Encoder(configuration: configuration, seed: 1))]
        let pipelines = [Guarded(AugmentPipeline(.simclr(size: 8))), Guarded(AugmentPipeline(.mocoV2(size: 8)))]
        let images = (0..<(4 * 10 * 10 * 3)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        let input = Tensor(shape: [4, 8, 8, 3], values: (0..<(4 * 8 * 8 * 3)).map { Float($0 % 17) / 17 })

        func work(_ k: Int) -> ([Float], [Float]) {
            let e = encoders[k % 2], p = pipelines[k % 2]
            let features = e.with { encoder -> [Float] in
                let (h, _) = encoder.forward(input, training: false)
                return h.toArray()
            }
            let view0 = Tensor(shape: [0]), view1 = Tensor(shape: [0])
            p.with { pipeline in
                images.withUnsafeBufferPointer {
                    pipeline.views(of: $0.baseAddress!, count: 4, height: 10, width: 10, channels: 3, seed: 5, epoch: 0,
                                   into: view0, view1)
                }
            }
            let buffer = e.with { encoder -> [Float] in
                encoder.zeroGradients()
                let path = FilePath("/tmp/dclkit-hammer-\(getpid())-\(k % 2).safetensors")
                try? encoder.save(to: path)
                return ((try? Safetensors.read(from: path).tensors["conv1.weight"]?.toArray()) ?? nil) ?? []
            }
            return (features + view0.toArray() + view1.toArray(), buffer)
        }

        let reference = (0..<2).map { work($0) }
        let threads = 6, rounds = 4
        let results = UnsafeMutablePointer<Bool>.allocate(capacity: threads * rounds)
        results.initialize(repeating: false, count: threads * rounds)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for r in 0..<rounds {
                let (values, saved) = work(t)
                results[t * rounds + r] = values == reference[t % 2].0 && saved == reference[t % 2].1 && !saved.isEmpty
            }
        }
        XCTAssertEqual((0..<(threads * rounds)).filter { !results[$0] }, [], "rounds whose results differ from one thread's")
        for k in 0..<2 { unlink("/tmp/dclkit-hammer-\(getpid())-\(k).safetensors") }
    }
}
