import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import DCLKit

/// NNCLR and NNCLR-DCL: the loss and its gradient against a Float64 reference written from the
/// paper's formula, the nearest neighbour as the positive, and the support set in the checkpoint.
final class NNCLRMethodTests: XCTestCase {
    /// ℓ = mean_i [−q_i·p̂_i/τ + log Σ_{k∈D_i} exp(q_i·p̂_k/τ)] in Float64, from the formula.
    private func reference(_ q: [Double], _ p: [Double], n: Int, d: Int, decoupled: Bool, tau: Double) -> Double {
        var unit = p
        for k in 0..<n {
            let norm = (0..<d).map { p[k * d + $0] * p[k * d + $0] }.reduce(0, +).squareRoot()
            for j in 0..<d { unit[k * d + j] = p[k * d + j] / norm }
        }
        func s(_ i: Int, _ k: Int) -> Double { (0..<d).map { q[i * d + $0] * unit[k * d + $0] }.reduce(0, +) / tau }
        var total = 0.0
        for i in 0..<n {
            let denominator = (0..<n).filter { !decoupled || $0 != i }.map { exp(s(i, $0)) }.reduce(0, +)
            total += -s(i, i) + log(denominator)
        }
        return total / Double(n)
    }

    private func data(n: Int, d: Int, seed: UInt64) -> (q: [Float], p: [Float]) {
        var rng = CounterRNG(seed: seed)
        var q = (0..<n * d).map { _ in Float(rng.normal()) }
        for i in 0..<n {
            let norm = (0..<d).map { q[i * d + $0] * q[i * d + $0] }.reduce(0, +).squareRoot()
            for j in 0..<d { q[i * d + j] /= norm }
        }
        return (q, (0..<n * d).map { _ in Float(rng.normal()) })
    }

    /// `NNCLRLoss` of all n rows as anchors.
    private func loss(_ q: [Float], _ p: [Float], n: Int, d: Int, objective: QueueObjective, tau: Double,
                      gradient: inout [Float]) -> Double {
        NNCLRLoss(objective: objective, temperature: tau).compute(neighbours: q, anchors: n, firstAnchor: 0, predictions: p, count: n,
                                                                  dim: d, gradient: &gradient)
    }

    func test_loss_and_gradient_match_the_float64_reference() {
        let (n, d, tau) = (5, 4, 0.5)
        for objective in [QueueObjective.infonce, .dcl] {
            let (q, p) = data(n: n, d: d, seed: objective == .dcl ? 2 : 1)
            var gradient = [Float](repeating: 0, count: n * d)
            let value = loss(q, p, n: n, d: d, objective: objective, tau: tau, gradient: &gradient)
            let q64 = q.map(Double.init), p64 = p.map(Double.init)
            let decoupled = objective == .dcl
            XCTAssertEqual(value, reference(q64, p64, n: n, d: d, decoupled: decoupled, tau: tau), accuracy: 1e-5)
            // Central differences of the Float64 reference, step 1e-5.
            for index in 0..<n * d {
                var plus = p64, minus = p64
                plus[index] += 1e-5
                minus[index] -= 1e-5
                let numeric = (reference(q64, plus, n: n, d: d, decoupled: decoupled, tau: tau)
                    - reference(q64, minus, n: n, d: d, decoupled: decoupled, tau: tau)) / 2e-5
                XCTAssertEqual(Double(gradient[index]), numeric, accuracy: 1e-4 + 1e-3 * abs(numeric), "\(objective) \(index)")
            }
        }
    }

    /// With the positive in the denominator the loss is positive (−log of a probability); DCL's
    /// drops the positive's term from the sum, so it is always smaller.
    func test_dcl_variant_drops_the_positive_from_the_denominator() {
        let (q, p) = data(n: 6, d: 3, seed: 5)
        var g = [Float](repeating: 0, count: 18)
        let info = loss(q, p, n: 6, d: 3, objective: .infonce, tau: 0.2, gradient: &g)
        let dcl = loss(q, p, n: 6, d: 3, objective: .dcl, tau: 0.2, gradient: &g)
        XCTAssertGreaterThan(info, 0)
        XCTAssertLessThan(dcl, info)
    }

    private func configuration(_ method: String) throws -> RunConfiguration {
        try RunConfiguration(json: #"""
        {"method": "\#(method)", "width": 0.0625, "head_dims": [16, 8], "batch_size": 4, "image_size": 8,
         "epochs": 2, "lr": 0.05, "temperature": 0.5, "warmup_epochs": 0, "seed": 3, "support_size": 12,
         "augment": {"pipeline": "simclr", "blur": 0}}
        """#)
    }

    func test_configuration_defaults_and_rules() throws {
        XCTAssertEqual(try RunConfiguration(json: #"{"method": "nnclr", "batch_size": 64}"#).settings(as: NNCLRSettings.self)?.supportSize, 24 * 64)
        XCTAssertNil(try RunConfiguration(json: #"{"method": "dcl"}"#).settings(as: NNCLRSettings.self))
        let dcl = try ContrastiveTrainer(configuration: configuration("nnclr-dcl"))
        XCTAssertEqual((dcl.method as? NNCLRMethod)?.loss.objective, .dcl)
        XCTAssertThrowsError(try RunConfiguration(json: #"{"method": "nnclr", "batch_size": 64, "support_size": 32}"#))
    }

    /// Training steps fill the support set with view-0 projections; save and resume continue
    /// exactly (prediction head and support set included).
    func test_support_set_is_checkpointed_and_resume_is_exact() throws {
        var rng = CounterRNG(seed: 11)
        let images = (0..<(8 * 8 * 8 * 3)).map { _ in UInt8(rng.below(256)) }
        func step(_ t: ContrastiveTrainer) throws -> ContrastiveTrainer.StepOutcome {
            try images.withUnsafeBufferPointer { try t.step(dataset: $0.baseAddress!, count: 8, height: 8, width: 8, channels: 3) }
        }
        for method in ["nnclr", "nnclr-dcl"] {
            let original = try ContrastiveTrainer(configuration: try configuration(method))
            for _ in 0..<3 { XCTAssertTrue(try step(original).loss.isFinite) }
            guard let nnclr = original.method as? NNCLRMethod else { return XCTFail("not NNCLR") }
            XCTAssertEqual(nnclr.supportSet.filled, 12)
            let path = "/tmp/dclkit-nnclr-test-\(getpid()).safetensors"
            defer { unlink(path) }
            try original.save(to: FilePath(path))
            let restored = try ContrastiveTrainer.resume(from: FilePath(path))
            XCTAssertEqual(try step(restored).untimed, try step(original).untimed, method)
            for (x, y) in zip(original.stateTensors(), restored.stateTensors()) {
                XCTAssertEqual(x.tensor.toArray(), y.tensor.toArray(), x.name)
            }
        }
    }
}
