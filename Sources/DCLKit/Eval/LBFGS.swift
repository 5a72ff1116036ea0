/// Limited-memory BFGS (Nocedal 1980; Liu and Nocedal 1989) for smooth unconstrained
/// minimisation in float64, with a backtracking Armijo line search.
///
/// Each iteration: the search direction d = −H·g from the two-loop recursion over the last
/// `memory` pairs (s, y) with initial scaling H₀ = (sᵀy / yᵀy)·I; the first direction is the
/// steepest descent scaled to unit length. The step α starts at 1 and shrinks (by safeguarded
/// quadratic interpolation, to between 0.1 and 0.5 of the last trial) until
/// f(x + αd) ≤ f(x) + 10⁻⁴·α·gᵀd. A pair is kept only when sᵀy > 10⁻¹⁰·yᵀy, so H stays
/// positive definite.
///
/// Stops when max |gᵢ| ≤ `gradientTolerance` (`.gradient`), when an accepted step lowers f by
/// no more than 10⁻¹²·max(|f|, 1) or no step of the line search lowers f, which happens once f is
/// flat to its own rounding (`.noProgress`), or after `maxIterations` iterations.
struct LBFGS {
    /// Why the minimisation stopped.
    enum Stop: Equatable {
        case gradient, noProgress, maxIterations
    }

    /// The outcome: iterations run, the final value, max |gᵢ| there, and the reason to stop.
    struct Result {
        let iterations: Int
        let value: Double
        let gradientNorm: Double
        let stop: Stop
    }

    /// Number of (s, y) pairs kept.
    var memory = 10
    /// Iteration limit (≥ 1).
    var maxIterations: Int
    /// The max-norm of the gradient at which to stop.
    var gradientTolerance: Double

    /// Minimises `f` from `x`, leaving the minimiser in `x`. `f(x, &g)` returns the value at x
    /// and writes the gradient into g (same length as x).
    func minimize(_ x: inout [Double], _ f: ([Double], inout [Double]) -> Double) -> Result {
        let n = x.count
        var g = [Double](repeating: 0, count: n)
        var value = f(x, &g)
        var pairs: [(s: [Double], y: [Double], rho: Double)] = []
        var trialX = x, trialG = g
        var iteration = 0
        while iteration < maxIterations {
            if maxNorm(g) <= gradientTolerance { return Result(iterations: iteration, value: value, gradientNorm: maxNorm(g), stop: .gradient) }
            iteration += 1
            var d = direction(g, pairs)
            var slope = dot(g, d)
            if slope >= 0 {  // cannot happen with positive-definite H; restart from steepest descent
                pairs.removeAll()
                d = direction(g, pairs)
                slope = dot(g, d)
            }
            var alpha = 1.0
            var trialValue = Double.nan
            var accepted = false
            for _ in 0..<60 {
                for i in 0..<n { trialX[i] = x[i] + alpha * d[i] }
                trialValue = f(trialX, &trialG)
                if trialValue <= value + 1e-4 * alpha * slope { accepted = true; break }
                let denominator = 2 * (trialValue - value - slope * alpha)
                let interpolated = denominator > 0 && denominator.isFinite ? -slope * alpha * alpha / denominator : 0.5 * alpha
                alpha = min(max(interpolated, 0.1 * alpha), 0.5 * alpha)
            }
            guard accepted else { return Result(iterations: iteration, value: value, gradientNorm: maxNorm(g), stop: .noProgress) }
            let s = (0..<n).map { trialX[$0] - x[$0] }
            let y = (0..<n).map { trialG[$0] - g[$0] }
            let sy = dot(s, y), yy = dot(y, y)
            if sy > 1e-10 * yy {
                if pairs.count == memory { pairs.removeFirst() }
                pairs.append((s, y, 1 / sy))
            }
            let decrease = value - trialValue
            swap(&x, &trialX)
            swap(&g, &trialG)
            let previous = value
            value = trialValue
            if decrease <= 1e-12 * max(abs(previous), 1) {
                return Result(iterations: iteration, value: value, gradientNorm: maxNorm(g), stop: maxNorm(g) <= gradientTolerance ? .gradient : .noProgress)
            }
        }
        let stop: Stop = maxNorm(g) <= gradientTolerance ? .gradient : .maxIterations
        return Result(iterations: iteration, value: value, gradientNorm: maxNorm(g), stop: stop)
    }

    /// −H·g by the two-loop recursion; −g/‖g‖ without pairs.
    private func direction(_ g: [Double], _ pairs: [(s: [Double], y: [Double], rho: Double)]) -> [Double] {
        guard let newest = pairs.last else {
            let norm = dot(g, g).squareRoot()
            return g.map { -$0 / max(norm, .leastNormalMagnitude) }
        }
        var q = g
        var alphas = [Double](repeating: 0, count: pairs.count)
        for k in stride(from: pairs.count - 1, through: 0, by: -1) {
            alphas[k] = pairs[k].rho * dot(pairs[k].s, q)
            for i in 0..<q.count { q[i] -= alphas[k] * pairs[k].y[i] }
        }
        let gamma = dot(newest.s, newest.y) / dot(newest.y, newest.y)
        for i in 0..<q.count { q[i] *= gamma }
        for k in 0..<pairs.count {
            let beta = pairs[k].rho * dot(pairs[k].y, q)
            for i in 0..<q.count { q[i] += (alphas[k] - beta) * pairs[k].s[i] }
        }
        return q.map { -$0 }
    }

    private func dot(_ a: [Double], _ b: [Double]) -> Double {
        var total = 0.0
        for i in 0..<a.count { total += a[i] * b[i] }
        return total
    }

    private func maxNorm(_ g: [Double]) -> Double { g.reduce(0) { max($0, abs($1)) } }
}
