import DCLKit

/// MoCo-family costs per training step at batch 256, D = 128: the queue losses (forward +
/// backward, with and without MoCHi's extra negatives), MoCHi's mixing, the enqueue and the
/// momentum update of a ResNet-18-sized key encoder.
enum MoCoBench {
    static func run() {
        let (n, d) = (256, 128)
        print("\n### MoCo family at batch \(n), D = \(d) (threads: \(Threads.count))\n")
        print("| step | K | N_hard | s | s′ | median ms |")
        print("|---|---:|---:|---:|---:|---:|")
        var rng = CounterRNG(seed: 11)
        let q = Tensor(shape: [n, d]), k = Tensor(shape: [n, d]), dq = Tensor(shape: [n, d])
        for i in 0..<q.count { q[i] = Float(rng.normal()); k[i] = q[i] + Float(rng.normal()) }
        for size in [4096, 65536] {
            let queue = NegativeQueue(size: size, dim: d, seed: 1)
            let repeats = size > 4096 ? 5 : 11
            for objective in [QueueObjective.infonce, .dcl] {
                let loss = QueueContrastiveLoss(objective: objective, temperature: 0.2)
                let seconds = Timing.median(repeats: repeats) {
                    _ = loss.compute(queries: q.data, keys: k.data, count: n, dim: d,
                                     queue: queue.keys.data, queueSize: size, gradient: dq.data)
                }
                row("\(objective) loss, fwd + bwd", size, nil, seconds)
            }
            let presets = size == 4096 ? [(32, 16, 16), (1024, 256, 256)] : [(1024, 256, 256)]
            for (hardest, s, sPrime) in presets {
                let mixing = HardNegativeMixing(hardest: hardest, mixed: s, queryMixed: sPrime)
                let extra = Tensor(shape: [n, s + sPrime, d])
                var step: UInt64 = 0
                let mixSeconds = Timing.median(repeats: repeats) {
                    step += 1
                    mixing.makeNegatives(queries: q.data, count: n, dim: d, queue: queue.keys.data,
                                         queueSize: size, seed: 0, step: step, into: extra.data)
                }
                row("MoCHi mixing", size, (hardest, s, sPrime), mixSeconds)
                let loss = QueueContrastiveLoss(objective: .infonce, temperature: 0.2)
                let lossSeconds = Timing.median(repeats: repeats) {
                    _ = loss.compute(queries: q.data, keys: k.data, count: n, dim: d,
                                     queue: queue.keys.data, queueSize: size,
                                     extraNegatives: extra.data, extraPerQuery: s + sPrime, gradient: dq.data)
                }
                row("infonce loss + MoCHi negatives, fwd + bwd", size, (hardest, s, sPrime), lossSeconds)
            }
            let enqueueSeconds = Timing.median(repeats: 11) { queue.enqueue(k.data, count: n) }
            row("enqueue", size, nil, enqueueSeconds)
        }
        // ResNet-18 (CIFAR stem) with a 2-layer 512-512-128 head: about 11.5 M values, as one list.
        let sizes = [11_173_962, 512 * 512 + 512, 512 * 128 + 128]
        let key = sizes.map { Tensor(shape: [$0]) }, query = sizes.map { Tensor(shape: [$0]) }
        let emaSeconds = Timing.median(repeats: 11) { KeyEncoderUpdate.apply(to: key, from: query, momentum: 0.999) }
        print("| momentum update, \(sizes.reduce(0, +) / 1000) k values | | | | | \(Timing.format(emaSeconds * 1000, 2)) |")
    }

    private static func row(_ name: String, _ size: Int, _ mixing: (Int, Int, Int)?, _ seconds: Double) {
        let (h, s, sPrime) = mixing.map { ("\($0.0)", "\($0.1)", "\($0.2)") } ?? ("", "", "")
        print("| \(name) | \(size) | \(h) | \(s) | \(sPrime) | \(Timing.format(seconds * 1000, 2)) |")
    }
}
