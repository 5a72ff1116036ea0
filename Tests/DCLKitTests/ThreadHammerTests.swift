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

    /// One trainer hammered from several threads at once, as a Python `Trainer` and its `.encoder`
    /// are (one lock for both): steps, eval-mode forwards through the trainer's encoder, `embed`
    /// and save + resume interleave in whatever order the threads reach the lock. Every
    /// observation, tagged with the step count it saw, must equal what one thread alone sees
    /// after that many steps, and the hammered run must end where the sequential one does.
    func test_threads_sharing_one_trainer_see_the_sequential_run() throws {
        Threads.setCount(2)
        let json = #"""
        {"method": "dcl", "width": 0.0625, "head_dims": [16, 8], "batch_size": 4, "image_size": 8, "epochs": 3,
         "lr": 0.05, "warmup_epochs": 0, "seed": 4, "augment": {"pipeline": "simclr", "blur": 0}}
        """#
        var rng = CounterRNG(seed: 11)
        let images = (0..<(8 * 10 * 10 * 3)).map { _ in UInt8(rng.below(256)) }
        let input = Tensor(shape: [2, 8, 8, 3], values: (0..<(2 * 8 * 8 * 3)).map { Float($0 % 13) / 13 - 0.5 })
        let path = "/tmp/dclkit-trainer-hammer-\(getpid()).safetensors"
        defer { unlink(path) }

        /// What a thread can see of the run: (step count, values).
        enum Observation: Int, CaseIterable { case forward, embed, saved }
        func observe(_ kind: Observation, _ trainer: ContrastiveTrainer) throws -> [Float] {
            switch kind {
            case .forward:
                return trainer.encoder.forward(input, training: false).features.toArray()
            case .embed:
                var features = [Float](repeating: 0, count: 8 * trainer.encoder.configuration.featureDimension)
                try images.withUnsafeBufferPointer { pixels in
                    try features.withUnsafeMutableBufferPointer {
                        try trainer.embed(images: pixels.baseAddress!, count: 8, height: 10, width: 10, channels: 3,
                                      into: $0.baseAddress!)
                    }
                }
                return features
            case .saved:
                try trainer.save(to: FilePath(path))
                let resumed = try ContrastiveTrainer.resume(from: FilePath(path))
                XCTAssertEqual(resumed.stepCount, trainer.stepCount)
                return resumed.encoder.stateDict().flatMap { $0.tensor.toArray() }
            }
        }
        func step(_ trainer: ContrastiveTrainer) throws -> Double {
            try images.withUnsafeBufferPointer {
                try trainer.step(dataset: $0.baseAddress!, count: 8, height: 10, width: 10, channels: 3).loss
            }
        }

        let steps = 6
        let sequential = try ContrastiveTrainer(configuration: try RunConfiguration(json: json))
        var expected: [[[Float]]] = []  // [step count][observation]
        var expectedLosses: [Double] = []
        for s in 0...steps {
            expected.append(try Observation.allCases.map { try observe($0, sequential) })
            if s < steps { expectedLosses.append(try step(sequential)) }
        }

        let shared = Guarded(try ContrastiveTrainer(configuration: try RunConfiguration(json: json)))
        let threads = 4, observationsPerThread = 3
        var seen = [[(step: Int, kind: Observation, values: [Float])]](repeating: [], count: threads)
        var losses = [[(step: Int, loss: Double)]](repeating: [], count: threads)
        var failures = [String](repeating: "", count: threads)
        seen.withUnsafeMutableBufferPointer { seen in
            losses.withUnsafeMutableBufferPointer { losses in
                failures.withUnsafeMutableBufferPointer { failures in
                    DispatchQueue.concurrentPerform(iterations: threads) { t in
                        do {
                            // Thread 0 takes every step; the others observe in between.
                            if t == 0 {
                                for _ in 0..<steps {
                                    try shared.with { losses[t].append(($0.stepCount, try step($0))) }
                                }
                            } else {
                                for r in 0..<observationsPerThread {
                                    let kind = Observation.allCases[(t + r) % Observation.allCases.count]
                                    try shared.with { seen[t].append(($0.stepCount, kind, try observe(kind, $0))) }
                                }
                            }
                        } catch {
                            failures[t] = "thread \(t): \(error)"
                        }
                    }
                }
            }
        }
        XCTAssertEqual(failures.filter { !$0.isEmpty }, [])
        XCTAssertEqual(losses[0].map(\.step), Array(0..<steps))
        XCTAssertEqual(losses[0].map(\.loss.bitPattern), expectedLosses.map(\.bitPattern))
        let observations = seen.joined()
        XCTAssertEqual(observations.count, (threads - 1) * observationsPerThread)
        for o in observations {
            XCTAssertEqual(o.values, expected[o.step][o.kind.rawValue], "\(o.kind) after \(o.step) steps")
        }
        for (kind, values) in zip(Observation.allCases, expected[steps]) {
            XCTAssertEqual(try shared.with { try observe(kind, $0) }, values, "\(kind) at the end")
        }
    }
}
