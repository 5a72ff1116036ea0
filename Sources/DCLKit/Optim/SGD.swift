/// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay,
/// following PyTorch's `torch.optim.SGD` (dampening 0).
///
/// For each parameter w with gradient ∇ and momentum buffer b (zero at the start):
///
///     g = ∇ + wd·w        (wd = 0 for parameters with `decays == false`)
///     b = μ·b + g
///     step = g + μ·b      (Nesterov)  or  b  (classic momentum)
///     w = w − lr·step
///
/// With μ = 0 the step is g (the buffer stays zero). The buffer holds gradients, not
/// learning-rate-scaled updates, so a changing learning rate rescales past momentum too,
/// as in PyTorch. Arithmetic is float32, element by element.
///
/// ```swift
/// let sgd = SGD(parameters: model.parameters, momentum: 0.9, weightDecay: 5e-4)
/// sgd.step(learningRate: schedule.learningRate(atStep: s))
/// ```
public final class SGD: Optimizer {
    /// The parameters updated by `step`, in the order their state is named.
    public let parameters: [Parameter]
    /// Momentum μ ∈ [0, 1).
    public let momentum: Double
    /// Nesterov momentum (requires μ > 0).
    public let nesterov: Bool
    /// L2 weight decay wd ≥ 0, added to the gradient of decaying parameters.
    public let weightDecay: Double
    private let state: MomentumBuffers
    /// Where each parameter's elements start in the concatenation of all of them, and the total
    /// (`offsets.last`): `step` splits elements, not parameters, over the threads.
    private let offsets: [Int]

    /// An optimiser over `parameters`; the hyperparameters are checked by callers
    /// (0 ≤ μ < 1, wd ≥ 0, Nesterov only with μ > 0).
    public init(parameters: [Parameter], momentum: Double = 0, nesterov: Bool = false, weightDecay: Double = 0) {
        precondition(momentum >= 0 && momentum < 1, "SGD: momentum \(momentum)")
        precondition(weightDecay >= 0 && weightDecay.isFinite, "SGD: weight decay \(weightDecay)")
        precondition(!nesterov || momentum > 0, "SGD: Nesterov momentum needs momentum > 0")
        self.parameters = parameters
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.state = MomentumBuffers(for: parameters)
        self.offsets = parameters.reduce(into: [0]) { $0.append($0.last! + $1.value.count) }
    }

    /// Applies one update to every parameter (in parallel over their elements).
    public func step(learningRate: Double) {
        step(learningRate: learningRate, constantRate: learningRate, constantFrom: parameters.count)
    }

    /// Applies one update, at `constantRate` for the parameters from index `first` on. The
    /// threads take equal shares of all the elements (parameter sizes differ by 10⁴: split by
    /// parameter, one thread got most of ResNet-18's last stage alone); each element's update is
    /// the same at any split.
    public func step(learningRate: Double, constantRate: Double, constantFrom first: Int) {
        Threads.forEachChunk(offsets.last!) { elements in
            var index = lastParameter(startingAtOrBefore: elements.lowerBound)
            while index < parameters.count && offsets[index] < elements.upperBound {
                let start = offsets[index]
                let slice = max(elements.lowerBound, start) - start..<min(elements.upperBound, offsets[index + 1]) - start
                update(index, slice, learningRate: Float(index < first ? learningRate : constantRate))
                index += 1
            }
        }
    }

    /// The parameter whose elements hold `element` (the last of those starting there, so empty
    /// parameters are passed over).
    private func lastParameter(startingAtOrBefore element: Int) -> Int {
        var (low, high) = (0, parameters.count - 1)
        while low < high {
            let middle = (low + high + 1) / 2
            if offsets[middle] <= element { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// The update of elements `slice` of parameter `index`.
    private func update(_ index: Int, _ slice: Range<Int>, learningRate lr: Float) {
        let parameter = parameters[index]
        let mu = Float(momentum)
        let wd: Float = parameter.decays ? Float(weightDecay) : 0
        let w = parameter.value.data
        let grad = parameter.gradient.data
        let b = state.buffers[index].data
        for i in slice {
            let g = grad[i] + wd * w[i]
            guard mu != 0 else { w[i] -= lr * g; continue }
            b[i] = mu * b[i] + g
            w[i] -= lr * (nesterov ? g + mu * b[i] : b[i])
        }
    }

    /// The momentum buffers, named `state.<i>.momentum_buffer` (see `MomentumBuffers`).
    public var stateTensors: [(String, Tensor)] { state.named }

    /// Restores the momentum buffers from `stateTensors` of an optimiser over the same parameters.
    public func loadState(_ tensors: [(String, Tensor)]) throws { try state.load(tensors) }
}
