/// The im2col layout of a 2-D convolution over NHWC data: one row per output pixel
/// (n, oy, ox), one column per (ky, kx, c) — so the KW·C entries of one kernel row are a
/// contiguous run of the input, copied with one `memcpy`-like update.
struct Im2col {
    /// Input height, width and channels.
    let height, width, channels: Int
    /// Kernel side, stride and zero padding.
    let kernel, stride, padding: Int

    /// Output height and width.
    var outputHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    var outputWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    /// Columns per row, KH·KW·C.
    var columns: Int { kernel * kernel * channels }
    /// Rows per sample, OH·OW.
    var rowsPerSample: Int { outputHeight * outputWidth }

    /// Writes the rows of `samples` of `source` (N, H, W, C) into `destination`
    /// (samples.count·OH·OW, KH·KW·C), zeros where the kernel covers padding.
    func gather(_ source: UnsafePointer<Float>, samples: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        let (h, w, c, k) = (height, width, channels, kernel)
        let (oh, ow, span, cols) = (outputHeight, outputWidth, kernel * channels, columns)
        for (local, s) in samples.enumerated() {
            let sample = source + s * h * w * c
            for y in 0..<oh {
                for xo in 0..<ow {
                    let row = destination + ((local * oh + y) * ow + xo) * cols
                    let x0 = xo * stride - padding
                    let lo = max(0, -x0), hi = min(k, w - x0)
                    for ky in 0..<k {
                        let dst = row + ky * span
                        let yi = y * stride - padding + ky
                        guard yi >= 0, yi < h, lo < hi else {
                            dst.update(repeating: 0, count: span)
                            continue
                        }
                        if lo > 0 { dst.update(repeating: 0, count: lo * c) }
                        (dst + lo * c).update(from: sample + (yi * w + x0 + lo) * c, count: (hi - lo) * c)
                        if hi < k { (dst + hi * c).update(repeating: 0, count: (k - hi) * c) }
                    }
                }
            }
        }
    }

    /// The adjoint of `gather` (col2im): adds every column entry of `samples` back onto the input
    /// position it was read from in `target` (N, H, W, C); with `accumulate` false the samples'
    /// part of `target` is zeroed first.
    func scatter(_ source: UnsafePointer<Float>, samples: Range<Int>, into target: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (h, w, c, k) = (height, width, channels, kernel)
        let (oh, ow, span, cols) = (outputHeight, outputWidth, kernel * channels, columns)
        for (local, s) in samples.enumerated() {
            let sample = target + s * h * w * c
            if !accumulate { sample.update(repeating: 0, count: h * w * c) }
            for y in 0..<oh {
                for xo in 0..<ow {
                    let row = source + ((local * oh + y) * ow + xo) * cols
                    let x0 = xo * stride - padding
                    let lo = max(0, -x0), hi = min(k, w - x0)
                    guard lo < hi else { continue }
                    for ky in 0..<k {
                        let yi = y * stride - padding + ky
                        guard yi >= 0, yi < h else { continue }
                        let src = row + ky * span + lo * c
                        let dst = sample + (yi * w + x0 + lo) * c
                        for i in 0..<((hi - lo) * c) { dst[i] += src[i] }
                    }
                }
            }
        }
    }
}
