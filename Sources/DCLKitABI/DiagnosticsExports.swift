import DCLKit

// The diagnostics a trainer records per epoch, on a caller's own projections. See the Diagnostics
// section of dclkit.h.

/// Writes the diagnostics of one batch of two views (`ProjectionDiagnostics.names`, in order) into `values`.
@_cdecl("dcl_projection_diagnostics")
public func dcl_projection_diagnostics(
    _ view0: UnsafePointer<Float>?, _ view1: UnsafePointer<Float>?, _ n: Int64, _ d: Int64, _ temperature: Double,
    _ queue: UnsafePointer<Float>?, _ queueSize: Int64, _ values: UnsafeMutablePointer<Double>?, _ count: Int64
) -> Int32 {
    exported {
        let rows = try Arguments.atLeast(n, 2, name: "n")
        let dim = try Arguments.atLeast(d, 1, name: "d")
        let elements = try Arguments.product(rows, dim, name: "z0")
        let a = try Arguments.floats(view0, count: elements, name: "z0")
        let b = try Arguments.floats(view1, count: elements, name: "z1")
        try Arguments.requireFinite(a, name: "z0")
        try Arguments.requireFinite(b, name: "z1")
        guard temperature.isFinite, temperature >= 0 else {
            throw ABIError.invalid("temperature must be a finite number > 0, or 0 for none, got \(temperature)")
        }
        let keys = try Arguments.atLeast(queueSize, 0, name: "queue_size")
        var queueRows: UnsafeBufferPointer<Float>? = nil
        if keys > 0 {
            queueRows = try Arguments.floats(queue, count: try Arguments.product(keys, dim, name: "queue"), name: "queue")
            try Arguments.requireFinite(queueRows!, name: "queue")
        }
        let names = ProjectionDiagnostics.names
        guard count == Int64(names.count) else { throw ABIError.invalid("count must be \(names.count), got \(count)") }
        guard let values else { throw ABIError.invalid("values is a null pointer") }
        try Tensor.requireAllocatable(floats: ProjectionDiagnostics.bufferElements(pairs: rows, dim: dim, queueSize: keys))
        let scratch = ProjectionDiagnostics()
        scratch.observe(view0: a.baseAddress!, view1: b.baseAddress!, rows: rows, dim: dim,
                        temperature: temperature > 0 ? temperature : nil, queue: queueRows?.baseAddress, queueSize: keys)
        let closed = scratch.closeEpoch()
        for (index, name) in names.enumerated() {
            values[index] = closed.first { $0.name == name }?.value ?? .nan
        }
    }
}
