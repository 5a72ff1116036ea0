/// A trainable tensor with its gradient. Optimiser state lives in the optimiser, not here.
public final class Parameter {
    /// The parameter's name inside its layer, in torchvision's words ("weight", "bias").
    public let name: String
    /// The current value.
    public let value: Tensor
    /// The accumulated gradient, same shape as `value`; `backward` adds to it.
    public let gradient: Tensor
    /// False for BatchNorm parameters and biases: SimCLR's LARS and the usual SGD recipes exclude
    /// them from weight decay (and LARS from its trust ratio).
    public let decays: Bool

    /// A zero-valued parameter of the given shape.
    public init(name: String, shape: [Int], decays: Bool) {
        self.name = name
        self.value = Tensor(shape: shape)
        self.gradient = Tensor(shape: shape)
        self.decays = decays
    }

    /// A layer's weight of `shape` (Conv2d, Linear): zero-valued, with weight decay.
    public static func weight(shape: [Int]) -> Parameter {
        Parameter(name: "weight", shape: shape, decays: true)
    }

    /// A layer's bias of `count` values (Conv2d, Linear), zero-valued and without weight decay,
    /// or nil when the layer has none (`present` false).
    public static func bias(count: Int, present: Bool) -> Parameter? {
        present ? Parameter(name: "bias", shape: [count], decays: false) : nil
    }

    /// Sets the gradient to zero.
    public func zeroGradient() { gradient.zero() }
}
