import DCLKit

/// Forward + backward time of the DCL loss at the sizes of issue 2.
enum LossBench {
    static func run() {
        print("\n### DCL loss, forward + backward (threads: \(Threads.count))\n")
        print("| N | D | median ms | GFLOP/s (3 GEMMs) |")
        print("|---:|---:|---:|---:|")
        for n in [256, 1024, 4096] {
            let d = 128
            var rng = CounterRNG(seed: 7)
            let z = Tensor(shape: [2 * n, d])
            for i in 0..<z.count { z[i] = Float(rng.normal()) }
            let grad = Tensor(shape: [2 * n, d])
            let loss = PairContrastiveLoss(objective: .dcl, temperature: 0.1)
            let seconds = Timing.median(repeats: n >= 4096 ? 5 : 11) {
                _ = loss.compute(z.data, pairs: n, dim: d, gradient: grad.data)
            }
            let flops = 3.0 * 2.0 * Double(2 * n) * Double(2 * n) * Double(d)
            print("| \(n) | \(d) | \(Timing.format(seconds * 1000, 2)) | \(Timing.format(flops / seconds / 1e9)) |")
        }
    }
}
