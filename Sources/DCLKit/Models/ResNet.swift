/// The ResNet trunk of torchvision (`resnet18`, `resnet34`, `resnet50`) without its classifier:
/// stem, four stages of residual blocks, global average pooling. Input (N, H, W, 3) NHWC →
/// features (N, F), F = 512·width (basic blocks) or 2048·width (bottlenecks).
///
/// Stems: `cifar` is conv1 3×3 stride 1 → bn1 → ReLU; `imagenet` is conv1 7×7 stride 2 padding 3
/// → bn1 → ReLU → max-pool 3×3 stride 2 padding 1. Stage k (k = 1…4) has 64·2^(k−1)·width planes
/// and stride 1 for the first stage, 2 for the others (on the first block's 3×3 convolution).
/// Names follow torchvision: `conv1`, `bn1`, `layer1.0.conv1`, …, `layer2.0.downsample.0`.
///
/// Memory: the stem's convolution and BatchNorm outputs live in the buffers of the first stage's
/// second block (its widest convolution output, conv3's in a bottleneck and conv1's in a basic
/// block, and its block output), which are dead while the stem's outputs are needed in forward
/// (until the first block has run) and again after that block's backward; backward then
/// recomputes them (a 3-channel convolution, and with the CIFAR stem one normalisation pass)
/// before the first block's backward, which reads them. With the ImageNet stem the convolution output has four
/// times the pixels of the block's: in a bottleneck, conv3's output (4·planes channels) holds it
/// without growing (conv1's, of `planes` channels, grew fourfold: 77 MB more at 224 px, batch 32).
///
/// Initialisation (torchvision's): convolutions Kaiming normal with fan_out and the ReLU gain,
/// std = √(2 / (Cout·KH·KW)); BatchNorm γ = 1, β = 0; with `zeroInitResidual` the last
/// BatchNorm of every block starts at γ = 0.
public final class ResNet {
    /// The architecture this trunk was built from.
    public let configuration: EncoderConfiguration
    /// The stem convolution.
    public let conv1: Conv2d
    /// The stem BatchNorm (+ ReLU).
    public let bn1: BatchNorm
    /// The ImageNet stem's max-pool.
    public let maxPool: MaxPool2d?
    /// The four stages (`layer1` … `layer4`).
    public let stages: [[ResidualBlock]]
    /// The global average pool giving the features.
    public let pool: GlobalAveragePool
    /// Every convolution, in forward order.
    public let convolutions: [Conv2d]
    private let blocks: [ResidualBlock]
    /// The most elements of a gradient the trunk's backward carries from block to block in the
    /// last forward: the first block's input, or a block's output (a bottleneck's has four times
    /// its input's channels).
    private var carriedElements = 0
    private let workspace: Workspace

    /// A zero-initialised trunk for `configuration` (call `initialize(seed:zeroInitResidual:)`).
    public init(configuration: EncoderConfiguration, workspace: Workspace) {
        self.configuration = configuration
        self.workspace = workspace
        let stemChannels = configuration.channels(64)
        let imagenet = configuration.stem == .imagenet
        var stages: [[ResidualBlock]] = []
        var inChannels = stemChannels
        for (k, count) in configuration.blocksPerStage.enumerated() {
            let planes = configuration.channels(64 << k)
            var stage: [ResidualBlock] = []
            for b in 0..<count {
                let stride = (k > 0 && b == 0) ? 2 : 1
                let block: ResidualBlock = configuration.architecture == .resnet50
                    ? Bottleneck(inChannels: inChannels, planes: planes, stride: stride, workspace: workspace)
                    : BasicBlock(inChannels: inChannels, planes: planes, stride: stride, workspace: workspace)
                inChannels = block.outChannels
                stage.append(block)
            }
            stages.append(stage)
        }
        self.stages = stages
        blocks = Array(stages.joined())
        precondition(stages[0].count >= 2, "ResNet: the stem's outputs need a second block in the first stage")
        let donor = stages[0][1]
        let donorOutput = (donor as? Bottleneck)?.conv3.output ?? donor.convolutions[0].output
        conv1 = Conv2d(inChannels: 3, outChannels: stemChannels, kernel: imagenet ? 7 : 3, stride: imagenet ? 2 : 1,
                       padding: imagenet ? 3 : 1, output: donorOutput, workspace: workspace)
        bn1 = BatchNorm(channels: stemChannels, relu: true, shared: donor.outputBuffer, workspace: workspace)
        maxPool = imagenet ? MaxPool2d(kernel: 3, stride: 2, padding: 1, workspace: workspace) : nil
        pool = GlobalAveragePool(workspace: workspace)
        convolutions = [conv1] + blocks.flatMap { $0.convolutions }
    }

    /// Every BatchNorm of the trunk, in forward order (the stem's, then each block's main
    /// branch and its shortcut's).
    public var batchNorms: [BatchNorm] {
        [bn1] + stages.joined().flatMap { block -> [BatchNorm] in
            let main: [BatchNorm]
            switch block {
            case let basic as BasicBlock: main = [basic.bn1, basic.bn2]
            case let bottleneck as Bottleneck: main = [bottleneck.bn1, bottleneck.bn2, bottleneck.bn3]
            default: preconditionFailure("ResNet: a residual block of unknown kind")
            }
            return main + (block.downsample.map { [$0.norm] } ?? [])
        }
    }

    /// The side of the last stage's maps for an input side.
    public func outputSide(_ side: Int) -> Int {
        var s = conv1.outputSide(side)
        if let maxPool { s = maxPool.outputSide(s) }
        for _ in 1..<stages.count { s = (s - 1) / 2 + 1 }  // 3×3 stride 2 padding 1
        return s
    }

    /// Torchvision's initialisation, seeded: convolution k (forward order) draws from
    /// `CounterRNG(seed: seed, index: k)`.
    public func initialize(seed: UInt64, zeroInitResidual: Bool) {
        for (k, conv) in convolutions.enumerated() {
            var rng = CounterRNG(seed: seed, index: UInt64(k))
            let w = conv.weight.value
            let std = (2 / Double(conv.outChannels * conv.kernel * conv.kernel)).squareRoot()
            for i in 0..<w.count { w[i] = Float(std * rng.normal()) }
        }
        for block in stages.joined() { block.lastNorm.weight.value.fill(zeroInitResidual ? 0 : 1) }
    }

    /// The features (N, F) of `x` (N, H, W, 3); every layer keeps what its backward needs.
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        var a = bn1.forward(conv1.forward(x, training: training), training: training)
        if let maxPool { a = maxPool.forward(a, training: training) }
        carriedElements = a.count
        for block in blocks {
            a = block.forward(a, training: training)
            carriedElements = max(carriedElements, a.count)
        }
        return pool.forward(a, training: training)
    }

    /// Backward of the last forward from dL/dfeatures (N, F): accumulates every parameter
    /// gradient and, when `inputGradient` is given, writes dL/dx (N, H, W, 3) into it.
    public func backward(_ featureGradient: Tensor, into inputGradient: Tensor?) {
        var g = workspace.gradients[0]
        // Grown once to its largest size, rather than block by block (each growth would hold the
        // old and the new storage at once, and a first step's peak memory counts that). Bottlenecks
        // also work in a second buffer as large (bn3's input gradient), which the ImageNet stem's
        // max-pool reuses.
        g.resize([carriedElements])
        if blocks[0] is Bottleneck { workspace.gradientBuffers(besides: g).0.resize([carriedElements]) }
        pool.backward(featureGradient, into: g)
        for block in blocks.dropFirst().reversed() { g = block.backward(g) }
        // The stem's outputs, in the second block's buffers, dead now: the convolution's written
        // back for the stem's BatchNorm backward, the BatchNorm's for the first block's backward
        // (its kept input) with the CIFAR stem; the ImageNet stem's first block reads the
        // max-pool's output, and bn1's backward recomputes its ReLU mask from its input.
        conv1.recomputeOutput()
        if maxPool == nil { bn1.recomputeOutput() }
        g = blocks[0].backward(g)
        if let maxPool {
            let (free, _) = workspace.gradientBuffers(besides: g)
            maxPool.backward(g, into: free)
            g = free
        }
        bn1.backward(g, into: g)
        conv1.backward(g, into: inputGradient)
    }

    /// Every state entry in torchvision's order and names (no `fc`).
    public func stateEntries() -> [StateEntry] {
        var entries = conv1.stateEntries(prefix: "conv1.") + bn1.stateEntries(prefix: "bn1.")
        for (k, blocks) in stages.enumerated() {
            for (b, block) in blocks.enumerated() { entries += block.stateEntries(prefix: "layer\(k + 1).\(b).") }
        }
        return entries
    }
}
