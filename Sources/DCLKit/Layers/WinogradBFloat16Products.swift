import DCLKitKernels

/// Winograd's point products on bfloat16 operands with float32 sums, for layers that
/// `MatmulPrecision.coversWinograd` (issue 24's experiment): m_q = v_q · u_q with both factors
/// rounded to bfloat16 and the exact products summed in float32 (`dclk_bf16_gemm`).
///
/// The kernels u_q (Cin, Cout) of these tiles (for the input-gradient tiles, the flipped kernels
/// (Cout, Cin) of the layer) are packed once per pass, each chunk's tiles v_q (t, Cin) before
/// its products; both in pairs along Cin (`dclk_bf16_pack_columns`, `dclk_bf16_pack_rows`) and
/// in place: a packed matrix takes the first half of its floats' place, so the float32 path's
/// buffers and strides serve unchanged. Each output is a sum over Cin in a fixed order, whatever
/// the chunks or threads.
extension WinogradTiles {
    /// Packs the α² kernel matrices (Cin, Cout) at `kernels` + q·`kernelStride` in place, in
    /// parallel over the points.
    func packKernels(_ kernels: UnsafeMutablePointer<Float>, kernelStride: Int) {
        let (k, n) = (inChannels, outChannels)
        Threads.forEachChunk(tiling.points) { points in
            for q in points {
                words(kernels + q * kernelStride, k * n) { dclk_bf16_pack_columns(kernels + q * kernelStride, k, n, n, $0) }
            }
        }
    }

    /// m_q = v_q · u_q for every point q of a chunk of t tiles: v_q (t, Cin) at q·vStride, packed
    /// in place (so `v` no longer holds floats afterwards), u_q from `packKernels` at
    /// q·kernelStride, m_q (t, Cout) at q·mStride.
    func multiplyBFloat16(_ v: UnsafeMutablePointer<Float>, vStride: Int, kernels: UnsafePointer<Float>, kernelStride: Int,
                          tiles t: Int, into m: UnsafeMutablePointer<Float>, mStride: Int) {
        let (k, n) = (inChannels, outChannels)
        for q in 0..<tiling.points {
            let (a, c) = (v + q * vStride, m + q * mStride)
            words(a, t * k) { packed in
                dclk_bf16_pack_rows(a, t, k, k, packed)
                words(UnsafeMutablePointer(mutating: kernels + q * kernelStride), k * n) { u in
                    dclk_bf16_gemm(t, n, k, packed, u, c, n, 0)
                }
            }
        }
    }

    /// `body` with `count` floats at `floats` seen as the 32-bit words of packed bfloat16 pairs.
    private func words(_ floats: UnsafeMutablePointer<Float>, _ count: Int, _ body: (UnsafeMutablePointer<UInt32>) -> Void) {
        floats.withMemoryRebound(to: UInt32.self, capacity: count, body)
    }
}
