/// One entry of a model's state dict: a torchvision name and the live tensor behind it.
///
/// Values are exported and imported in PyTorch's layouts. Convolution weights are stored
/// (Cout, KH, KW, Cin) so that a weight row matches an NHWC im2col row, and are exported as
/// PyTorch's OIHW (Cout, Cin, KH, KW); every other entry has the same layout in both.
public struct StateEntry {
    /// How the stored tensor maps to PyTorch's layout.
    public enum Layout {
        /// Identical layouts.
        case plain
        /// Stored (Cout, KH, KW, Cin), exported (Cout, Cin, KH, KW).
        case convolutionWeight
    }

    /// The full torchvision name, for example `layer1.0.bn1.running_mean`.
    public let name: String
    /// The live storage.
    public let tensor: Tensor
    /// The trainable parameter behind `tensor`, or nil for a buffer (running statistics).
    public let parameter: Parameter?
    /// The layout of `tensor`.
    public let layout: Layout

    /// An entry for a trainable parameter.
    public init(name: String, parameter: Parameter, layout: Layout = .plain) {
        self.name = name
        self.tensor = parameter.value
        self.parameter = parameter
        self.layout = layout
    }

    /// An entry for a buffer.
    public init(name: String, buffer: Tensor) {
        self.name = name
        self.tensor = buffer
        self.parameter = nil
        self.layout = .plain
    }

    /// The shape in PyTorch's layout.
    public var exportedShape: [Int] {
        switch layout {
        case .plain: return tensor.shape
        case .convolutionWeight:
            let s = tensor.shape
            return [s[0], s[3], s[1], s[2]]
        }
    }

    /// A copy of the value in PyTorch's layout.
    public func exportedValue() -> Tensor { exported(tensor) }

    /// A copy of the parameter's gradient in PyTorch's layout (nil for a buffer).
    public func exportedGradient() -> Tensor? { parameter.map { exported($0.gradient) } }

    /// Writes the value (`gradient` false) or the parameter's gradient (true) in PyTorch's layout
    /// into `destination` (`tensor.count` floats), allocating nothing; returns false, writing
    /// nothing, when a gradient is asked of a buffer.
    public func export(gradient: Bool, into destination: UnsafeMutablePointer<Float>) -> Bool {
        guard let stored = gradient ? parameter?.gradient : tensor else { return false }
        switch layout {
        case .plain: destination.update(from: stored.data, count: stored.count)
        case .convolutionWeight: StateEntry.permute(stored.data, destination, storedShape: stored.shape, toPyTorch: true)
        }
        return true
    }

    /// Copies `source`, in PyTorch's layout and of shape `exportedShape`, into the live storage.
    public func assign(from source: UnsafePointer<Float>) {
        switch layout {
        case .plain: tensor.data.update(from: source, count: tensor.count)
        case .convolutionWeight: StateEntry.permute(source, tensor.data, storedShape: tensor.shape, toPyTorch: false)
        }
    }

    private func exported(_ stored: Tensor) -> Tensor {
        let out = Tensor(shape: exportedShape)
        _ = export(gradient: stored !== tensor, into: out.data)
        return out
    }

    /// Copies a convolution weight between (Cout, KH, KW, Cin) and (Cout, Cin, KH, KW), either way.
    private static func permute(
        _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, storedShape s: [Int], toPyTorch: Bool
    ) {
        let (outC, kh, kw, inC) = (s[0], s[1], s[2], s[3])
        for o in 0..<outC {
            for i in 0..<inC {
                for y in 0..<kh {
                    for x in 0..<kw {
                        let stored = ((o * kh + y) * kw + x) * inC + i
                        let pytorch = ((o * inC + i) * kh + y) * kw + x
                        if toPyTorch { destination[pytorch] = source[stored] } else { destination[stored] = source[pytorch] }
                    }
                }
            }
        }
    }
}
