@testable import DCLKit
import DCLKitKernels
import XCTest

/// The rule that replaces OpenBLAS's generic fallback core by the family the CPU's features allow.
final class BLASKernelSelectionTests: XCTestCase {
    private let avx2 = Int32(DCLK_CPU_AVX2 | DCLK_CPU_FMA)
    private let avx512 = Int32(DCLK_CPU_AVX2 | DCLK_CPU_FMA | DCLK_CPU_AVX512F | DCLK_CPU_AVX512VL | DCLK_CPU_AVX512BW | DCLK_CPU_AVX512DQ)

    func testTheFallbackIsReplacedByTheFamilyTheFeaturesAllow() {
        XCTAssertEqual(BLASKernelSelection.replacement(detected: "Prescott", features: avx512, userChoice: nil), "SkylakeX")
        XCTAssertEqual(BLASKernelSelection.replacement(detected: "Prescott", features: avx2, userChoice: nil), "Haswell")
        // AVX-512 F alone (no VL/BW/DQ) is not SkylakeX's set; AVX2 without FMA is not Haswell's.
        let partial = Int32(DCLK_CPU_AVX2 | DCLK_CPU_FMA | DCLK_CPU_AVX512F)
        XCTAssertEqual(BLASKernelSelection.replacement(detected: "Prescott", features: partial, userChoice: nil), "Haswell")
        XCTAssertNil(BLASKernelSelection.replacement(detected: "Prescott", features: Int32(DCLK_CPU_AVX2), userChoice: nil))
        XCTAssertNil(BLASKernelSelection.replacement(detected: "Prescott", features: 0, userChoice: nil))
    }

    func testAChoiceOfOpenBLASOrOfTheUserIsKept() {
        XCTAssertNil(BLASKernelSelection.replacement(detected: "Cooperlake", features: avx512, userChoice: nil))
        XCTAssertNil(BLASKernelSelection.replacement(detected: "Zen", features: avx2, userChoice: nil))
        XCTAssertNil(BLASKernelSelection.replacement(detected: "Prescott", features: avx512, userChoice: "Prescott"))
    }

    func testTheCoreInUseFollowsTheRule() {
        let expected = BLASKernelSelection.replacement(detected: BLAS.detectedCoreName, features: Int32(dclk_cpu_features()),
                                                       userChoice: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"])
        XCTAssertEqual(BLAS.coreName.lowercased(), (expected ?? BLAS.detectedCoreName).lowercased())
    }
}
