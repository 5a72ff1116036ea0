import DCLKit

/// Whole training steps of the SimCLR and MoCo families at the same batch: ResNet-18 (CIFAR stem,
/// full width) on 32×32 views, batch 64, K = 4096, and MoCHi's mixing (N_hard = 1024,
/// s = s′ = 256) alone, as a fraction of a step. Views are fixed random floats, so augmentation
/// is not timed; the MoCo queue starts full (no warm-up steps).
enum TrainBench {
    static func run() {
        let (batch, size, queueSize) = (64, 32, 4096)
        print("\n### Training step, resnet18/cifar 32×32, batch \(batch), K = \(queueSize) (threads: \(Threads.count))\n")
        print("| method | median step ms | forward ms | backward ms | optimizer + EMA + enqueue ms |")
        print("|---|---:|---:|---:|---:|")
        var rng = CounterRNG(seed: 3)
        let values = batch * size * size * 3
        let view0 = (0..<values).map { _ in Float(rng.normal()) }, view1 = (0..<values).map { _ in Float(rng.normal()) }
        var stepMilliseconds: [String: Double] = [:]
        for name in ["dcl", "moco", "mochi"] {
            let trainer = makeTrainer(method: name, batch: batch, size: size, queueSize: queueSize)
            let repeats = 5
            let seconds = Timing.median(repeats: repeats) {
                _ = try! trainer.step(view0: view0, view1: view1, count: batch, size: size, epoch: 0)
            }
            let t = trainer.timings, steps = Double(repeats + 1)
            stepMilliseconds[name] = seconds * 1000
            print("| \(name) | \(Timing.format(seconds * 1000, 1)) | \(Timing.format(t.forward / steps * 1000, 1)) "
                  + "| \(Timing.format(t.backward / steps * 1000, 1)) | \(Timing.format(t.optimizer / steps * 1000, 1)) |")
        }
        // MoCHi's mixing alone on this step's shapes.
        let dim = 128
        let queue = NegativeQueue(size: queueSize, dim: dim, seed: 1)
        let queries = (0..<batch * dim).map { _ in Float(rng.normal()) }
        let mixing = HardNegativeMixing(hardest: 1024, mixed: 256, queryMixed: 256)
        let extra = Tensor(shape: [batch, mixing.negativesPerQuery, dim])
        var step: UInt64 = 0
        let mixSeconds = Timing.median(repeats: 11) {
            step += 1
            mixing.makeNegatives(queries: queries, count: batch, dim: dim, queue: queue.keys.data, queueSize: queueSize,
                                 seed: 0, step: step, into: extra.data)
        }
        let share = mixSeconds * 1000 / (stepMilliseconds["moco"] ?? .nan)
        print("\nMoCHi mixing (N_hard = 1024, s = s′ = 256, K = \(queueSize), batch \(batch)): "
              + "\(Timing.format(mixSeconds * 1000, 2)) ms, \(Timing.format(100 * share, 1))% of a moco step (target < 10%)")
    }

    private static func makeTrainer(method: String, batch: Int, size: Int, queueSize: Int) -> ContrastiveTrainer {
        let json = #"{"method": "\#(method)", "batch_size": \#(batch), "image_size": \#(size), "temperature": 0.2, "lr": 0.03, "#
            + #""warmup_epochs": 0, "epochs": 1, "queue_size": \#(queueSize), "queue_warmup": false, "augment": "simclr"}"#
        return try! ContrastiveTrainer(configuration: try! RunConfiguration(json: json))
    }
}
