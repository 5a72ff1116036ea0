/// How much memory a forward (and backward) of a batch grows an encoder's buffers to, and the
/// check that it can be had before the first layer allocates.
///
/// The layers grow their buffers with the non-throwing `Tensor.resize` (the hot loop must stay
/// free of error plumbing, and the growth happens inside parallel regions that cannot throw).
/// Every size they grow to comes from the input shape, so the encoder bounds the whole call's
/// need up front, from its own layers, with saturating arithmetic (`bufferElements`), and asks
/// the allocator for that much at once (`Tensor.requireAllocatable`) before the call: a batch the
/// process cannot hold (its address-space limit, the kernel's overcommit policy, the machine's
/// memory) is a `TensorError`, not a trap. `MemoryBoundTests` checks the bound against the bytes
/// the layers really allocate, over architectures, stems, widths, sides, batches and modes.
extension Encoder {
    /// An upper bound on the float32 elements the encoder's buffers grow by for one forward of
    /// `shape` (N, H, W, 3) and, in training, the backward after it, together with the caller's
    /// copies of the input and of the gradients; `Int.max` when the count exceeds `Int`.
    ///
    /// Per sample: two buffers the size of every convolution's output (its own and its
    /// BatchNorm's), the max-pool's output and winners, the head's, the input and its gradient,
    /// and the workspace's shared activation and (training) three rotating gradients the size of
    /// the largest activation. Per worker: im2col or Winograd scratch of at least one sample
    /// (`Workspace.columnElements` otherwise), a partial weight gradient, and the transformed or
    /// flipped kernel, all bounded by the largest convolution; and the OpenBLAS buffers that
    /// `Threads.count` GEMMs at once may still map (`BLAS.threadBufferElements`).
    public func bufferElements(inputShape shape: [Int], training: Bool) -> Int {
        precondition(shape.count == 4, "Encoder.bufferElements: shape \(shape)")
        // Sides beyond 2^40 make the bound exceed any memory anyway; clamped, no side arithmetic overflows.
        let (n, height, width) = (shape[0], min(shape[1], 1 << 40), min(shape[2], 1 << 40))
        var perSample = 0, largest = 0, scratch = 0, kernel = 0
        func convolution(_ conv: Conv2d, _ side: (Int, Int)) -> (Int, Int) {
            let out = (conv.outputSide(side.0), conv.outputSide(side.1))
            let (cin, cout, k2) = (conv.inChannels, conv.outChannels, conv.kernel * conv.kernel)
            let output = saturatingProduct(out.0, out.1, cout)
            perSample = saturatingSum(perSample, saturatingProduct(2, output))
            largest = max(largest, output, saturatingProduct(side.0, side.1, cin))
            // im2col forward (output pixels × K²·Cin) and the stride-1 input gradient (input
            // pixels × K²·Cout); Winograd F(2×2) / F(4×4): α² points per tile × (Cin + Cout).
            scratch = max(scratch, saturatingProduct(out.0, out.1, k2, cin), saturatingProduct(side.0, side.1, k2, cout))
            if conv.kernel == 3 && conv.stride == 1 {
                let (h, w) = (max(side.0, out.0), max(side.1, out.1))
                scratch = max(scratch, saturatingProduct(16, (h + 1) / 2, (w + 1) / 2, cin + cout),
                              saturatingProduct(36, (h + 3) / 4, (w + 3) / 4, cin + cout))
            }
            kernel = max(kernel, saturatingProduct(cout, k2, cin))
            return out
        }
        var side = convolution(trunk.conv1, (height, width))
        if let maxPool = trunk.maxPool {
            side = (maxPool.outputSide(side.0), maxPool.outputSide(side.1))
            perSample = saturatingSum(perSample, saturatingProduct(2, side.0, side.1, configuration.channels(64)))
        }
        for block in trunk.stages.joined() {
            let shortcut = block.downsample?.conv
            var main = side
            for conv in block.convolutions where conv !== shortcut { main = convolution(conv, main) }
            if let shortcut { _ = convolution(shortcut, side) }
            side = main
        }
        let (f, hidden, d) = (configuration.featureDimension, configuration.headHidden, configuration.headOutput)
        // Per row: a two-layer head keeps about 6 hidden and 3 output values, a three-layer one twice the hidden.
        let layers = configuration.head == .barlowtwins || configuration.head == .simsiam ? 2 : 1
        let head = configuration.head == nil ? 0 : saturatingSum(saturatingProduct(6 * layers, hidden), saturatingProduct(1 + 2 * layers, d))
        let gradients = training ? 3 : 0
        perSample = [perSample, head, saturatingProduct(4, f), saturatingProduct(2, height, width, 3), saturatingProduct(1 + gradients, largest),
                     largest / 128].reduce(0, saturatingSum)
        let workers = workspace.workers(for: n)
        let columns = saturatingSum(max(workspace.columnElements, scratch), saturatingSum(saturatingProduct(4, kernel), 4096))
        let blas = BLAS.threadBufferElements
        let fixed = [saturatingProduct(workers, columns), saturatingProduct(workers, kernel), saturatingProduct(5, kernel), blas,
                     4096].reduce(0, saturatingSum)
        return saturatingSum(saturatingProduct(n, perSample), fixed)
    }

    /// Throws `TensorError.outOfMemory` unless the buffers of a forward of `shape` (and, in
    /// training, its backward) can be allocated: `Tensor.requireAllocatable(floats:)` of the bound
    /// of `bufferElements`. A shape no larger on any axis than one already granted, in the same
    /// mode or eval after training, is not asked again: every buffer it needs is at most that
    /// shape's, which exist (so a repeated shape never asks for its memory a second time).
    public func requireMemory(forInputShape shape: [Int], training: Bool) throws {
        try checkedShapes.grant(shape + [training ? 1 : 0]) {
            try Tensor.requireAllocatable(floats: bufferElements(inputShape: shape, training: training))
        }
    }
}

/// The shapes whose buffers a memory check has granted, as keys compared axis by axis.
struct GrantedShapes {
    private var granted: [[Int]] = []

    /// Runs `check` unless a granted key is at least `key` on every axis (same length); records
    /// `key` when `check` returns.
    mutating func grant(_ key: [Int], _ check: () throws -> Void) rethrows {
        func covers(_ a: [Int], _ b: [Int]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { $0 >= $1 } }
        guard !granted.contains(where: { covers($0, key) }) else { return }
        try check()
        granted.removeAll { covers(key, $0) }
        granted.append(key)
    }
}

/// `a + b`, or `Int.max` when it overflows.
func saturatingSum(_ a: Int, _ b: Int) -> Int {
    let (s, overflow) = a.addingReportingOverflow(b)
    return overflow ? .max : s
}

/// The product of sizes, or `Int.max` when it overflows (sizes are ≥ 0).
func saturatingProduct(_ factors: Int...) -> Int { Tensor.product(factors) ?? .max }
