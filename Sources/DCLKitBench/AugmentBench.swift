#if canImport(Glibc)
import Glibc
#endif
import DCLKit

/// Two-view SimCLR augmentation throughput (issue 4): uint8 images of the output size in
/// (CIFAR-10 at 32, STL-10 at 96), two normalised float32 views out, on 1 and 2 threads.
///
/// Besides wall-clock samples/s, the table gives samples per CPU-second of this process: on a
/// machine shared with other work, wall time includes waiting for a core, CPU time does not.
enum AugmentBench {
    static func run() {
        let before = Threads.count
        defer { Threads.setCount(before) }
        print("\n### Augment: two-view SimCLR (strength 1, blur p = 0.5), uint8 in, float32 views out\n")
        print("| size | threads | batch | median ms | samples/s | samples/s per thread | samples per CPU-second |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for (size, batch) in [(32, 1024), (96, 256)] {
            let images = syntheticImages(count: batch, side: size)
            let pipeline = AugmentPipeline(.simclr(size: size, normalization: size == 32 ? .cifar10 : .imagenet))
            let view0 = Tensor(shape: [batch, size, size, 3])
            let view1 = Tensor(shape: [batch, size, size, 3])
            for threads in [1, 2] {
                Threads.setCount(threads)
                var epoch: UInt64 = 0
                let repeats = 9
                let cpuBefore = processCPUSeconds()
                let seconds = images.withUnsafeBufferPointer { pixels in
                    Timing.median(repeats: repeats) {
                        pipeline.views(of: pixels.baseAddress!, count: batch, height: size, width: size, channels: 3,
                                       seed: 1, epoch: epoch, into: view0, view1)
                        epoch += 1
                    }
                }
                let perCPUSecond = Double((repeats + 1) * batch) / (processCPUSeconds() - cpuBefore)
                let rate = Double(batch) / seconds
                print("| \(size)×\(size) | \(threads) | \(batch) | \(Timing.format(seconds * 1000, 2)) "
                      + "| \(Timing.format(rate, 0)) | \(Timing.format(rate / Double(threads), 0)) "
                      + "| \(Timing.format(perCPUSecond, 0)) |")
            }
        }
    }

    /// User + system CPU time of this process so far, all threads.
    private static func processCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Smooth colour gradients with noise, so every operation has work to do.
    private static func syntheticImages(count: Int, side: Int) -> [UInt8] {
        var rng = CounterRNG(seed: 42)
        var pixels = [UInt8](repeating: 0, count: count * side * side * 3)
        for n in 0..<count {
            let phase = rng.uniform(0, 255)
            for y in 0..<side {
                for x in 0..<side {
                    for c in 0..<3 {
                        let base = phase + Double(x * (c + 1) * 255 / side) + Double(y * (3 - c) * 128 / side)
                        let value = base.truncatingRemainder(dividingBy: 256) + rng.uniform(-20, 20)
                        pixels[((n * side + y) * side + x) * 3 + c] = UInt8(min(max(value, 0), 255))
                    }
                }
            }
        }
        return pixels
    }
}
