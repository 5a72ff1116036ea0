import DCLKitKernels

/// A stride-1 3×3 convolution of few input channels (the image stem's 3) computed directly on
/// NHWC data by DCLKitKernels' `dclk_direct_conv3x3` and `dclk_direct_conv3x3_weight_gradient`:
/// no im2col buffer, output channels across the vector lanes, the products register-blocked.
///
/// Input (N, height, width, Cin) → output (N, height + 2·padding − 2, width + 2·padding − 2, Cout),
/// weights (Cout, 3, 3, Cin) as in `Conv2d`. The forward rearranges the weights into
/// `workspace.flippedWeight` at every call (they change every step) and runs parallel over
/// samples (`Workspace.convolutionRegion`); each worker's zero-bordered copy of one sample lives
/// in its `workspace.columns` buffer. The input gradient is not computed here (`Conv2d` keeps it
/// on im2col: the stem's input, the image, needs none).
struct DirectConvolution {
    /// The most input channels the direct kernels are offered for (`ConvolutionShape.candidates`).
    static let maxInChannels = 4

    /// Input height and width.
    let height, width: Int
    /// Input and output channels.
    let inChannels, outChannels: Int
    /// Zero padding on every side (at most 2).
    let padding: Int
    /// The scratch owner.
    let workspace: Workspace

    private var outputPixels: Int { (height + 2 * padding - 2) * (width + 2 * padding - 2) }

    /// Writes the convolution of `x` (n, H, W, Cin) with `weight` into `y` (n, OH, OW, Cout).
    func forward(_ x: UnsafePointer<Float>, samples n: Int, weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let (cin, cout) = (inChannels, outChannels)
        let kernels = workspace.flippedWeight
        kernels.resize([dclk_direct_conv3x3_kernels_count(cin, cout)])
        workspace.timed(.convolutionCopy) { dclk_direct_conv3x3_kernels(weight, cin, cout, kernels.data) }
        let k = UnsafePointer(kernels.data)
        workspace.convolutionRegion(n, copyKind: .convolutionCopy) { worker, samples, phase in
            let scratch = scratch(worker)
            phase.gemm {
                dclk_direct_conv3x3(x + samples.lowerBound * height * width * cin, samples.count, height, width, cin, padding, k, cout,
                                    y + samples.lowerBound * outputPixels * cout, scratch)
            }
        }
    }

    /// One worker's share of dL/dW for `samples` of `x` (N, H, W, Cin) and `dy` (N, OH, OW, Cout):
    /// adds it to `weightGradient` (Cout, 3, 3, Cin).
    func accumulateWeightGradient(worker: Int, samples: Range<Int>, phase: Phase, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                  weightGradient: UnsafeMutablePointer<Float>) {
        let scratch = scratch(worker)
        phase.gemm {
            dclk_direct_conv3x3_weight_gradient(x + samples.lowerBound * height * width * inChannels,
                                                dy + samples.lowerBound * outputPixels * outChannels, samples.count, height, width,
                                                inChannels, padding, outChannels, weightGradient, scratch)
        }
    }

    /// Worker `worker`'s columns buffer, grown to one zero-bordered sample.
    private func scratch(_ worker: Int) -> UnsafeMutablePointer<Float> {
        let columns = workspace.columns(worker)
        columns.resize([(height + 2 * padding) * (width + 2 * padding) * inChannels])
        return columns.data
    }
}
