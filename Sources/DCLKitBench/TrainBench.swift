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
        let methods: [(String, TrainerConfiguration.Method)] = [
            ("dcl", .pair(.dcl)), ("moco", .momentum(.infonce, mixing: false)), ("mochi", .momentum(.infonce, mixing: true)),
        ]
        for (name, method) in methods {
            let trainer = makeTrainer(method: method, batch: batch, size: size, queueSize: queueSize)
            let repeats = 5
            let seconds = Timing.median(repeats: repeats) {
                _ = trainer.step(view0: view0, view1: view1, count: batch, size: size, epoch: 0)
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

    private static func makeTrainer(method: TrainerConfiguration.Method, batch: Int, size: Int, queueSize: Int) -> ContrastiveTrainer {
        var configuration = TrainerConfiguration(method: method, temperature: 0.2, optimizer: .sgd, learningRate: 0.03,
                                                 momentum: 0.9, weightDecay: 5e-4, warmupEpochs: 0, epochs: 1,
                                                 batchSize: batch, seed: 0)
        configuration.queueSize = queueSize
        configuration.queueWarmup = false
        let head: EncoderConfiguration.Head = { if case .pair = method { return .simclr } else { return .moco } }()
        let encoder = Encoder(configuration: try! EncoderConfiguration(architecture: .resnet18, stem: .cifar, head: head), seed: 0)
        let pipeline = AugmentPipeline(.simclr(size: size))
        return try! ContrastiveTrainer(configuration: configuration, encoder: encoder, pipeline: pipeline)
    }
}
