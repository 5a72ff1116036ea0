import DCLKit

/// End-to-end DCL pretraining throughput: uint8 batch → augmentation → forward → loss →
/// backward → SGD, in image pairs per second, with the time split into its parts.
enum PretrainBench {
    private struct Setup {
        let name: String
        let width: Double
        let batch: Int
        let imageSide: Int
        let viewSide: Int
        let steps: Int
    }

    static func run() {
        let setups = [
            Setup(name: "resnet18/cifar, 32×32", width: 1, batch: 256, imageSide: 32, viewSide: 32, steps: 2),
            Setup(name: "demo: resnet18 ×0.25, 28×28 → 16×16", width: 0.25, batch: 128, imageSide: 28, viewSide: 16, steps: 5),
        ]
        print("\n### DCL pretraining, end to end (threads: \(Threads.count))\n")
        print("| model | batch | s / step | pairs/s | augment | forward + loss | backward | optimiser |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for setup in setups { measure(setup) }
    }

    private static func measure(_ s: Setup) {
        let json = #"{"method": "dcl", "width": \#(s.width), "batch_size": \#(s.batch), "image_size": \#(s.viewSide), "#
            + #""warmup_epochs": 0, "epochs": 1, "seed": 0, "augment": {"pipeline": "simclr", "blur": 0}}"#
        let trainer = try! ContrastiveTrainer(configuration: try! RunConfiguration(json: json))
        trainer.fixEpochLength(s.steps + 1)
        var rng = CounterRNG(seed: 1)
        let images = (0..<(s.batch * s.imageSide * s.imageSide * 3)).map { _ in UInt8(rng.below(256)) }
        let indices = Array(0..<s.batch)
        let step = {
            images.withUnsafeBufferPointer { pixels in
                indices.withUnsafeBufferPointer { rows in
                    _ = try! trainer.step(images: pixels.baseAddress!, count: s.batch, height: s.imageSide, width: s.imageSide,
                                     channels: 3, indices: rows.baseAddress!, epoch: 0)
                }
            }
        }
        step()  // warm-up: buffers grow on the first step
        trainer.timings = StepTimings()
        let start = Timing.now()
        for _ in 0..<s.steps { step() }
        let perStep = (Timing.now() - start) / Double(s.steps)
        let t = trainer.timings
        let total = t.augment + t.forward + t.backward + t.optimizer
        let share = { (x: Double) in "\(Timing.format(100 * x / total)) %" }
        print("| \(s.name) | \(s.batch) | \(Timing.format(perStep, 2)) | \(Timing.format(Double(s.batch) / perStep)) "
              + "| \(share(t.augment)) | \(share(t.forward)) | \(share(t.backward)) | \(share(t.optimizer)) |")
    }
}
