import CBLAS
@testable import DCLKit
import DCLKitKernels
import XCTest

/// The rule that replaces OpenBLAS's pick by the family the CPU's features allow when the pick is less.
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

    func testAnAVX2PickOnAnAVX512CPUIsReplaced() {
        // Zen 4 (named "Zen" by OpenBLAS 0.3.21) and Zen 5 (its "Haswell" fallback) with AVX-512.
        XCTAssertEqual(BLASKernelSelection.replacement(detected: "Zen", features: avx512, userChoice: nil), "SkylakeX")
        XCTAssertEqual(BLASKernelSelection.replacement(detected: "Haswell", features: avx512, userChoice: nil), "SkylakeX")
        XCTAssertNil(BLASKernelSelection.replacement(detected: "Haswell", features: avx2, userChoice: nil))
    }

    func testAChoiceOfOpenBLASOrOfTheUserIsKept() {
        XCTAssertNil(BLASKernelSelection.replacement(detected: "Cooperlake", features: avx512, userChoice: nil))
        XCTAssertNil(BLASKernelSelection.replacement(detected: "SapphireRapids", features: avx512, userChoice: nil))
        XCTAssertNil(BLASKernelSelection.replacement(detected: "SkylakeX", features: avx512, userChoice: nil))
        XCTAssertNil(BLASKernelSelection.replacement(detected: "Zen", features: avx512, userChoice: "Zen"))
        XCTAssertNil(BLASKernelSelection.replacement(detected: "Zen", features: avx2, userChoice: nil))
        XCTAssertNil(BLASKernelSelection.replacement(detected: "Prescott", features: avx512, userChoice: "Prescott"))
    }

    func testTheCoreInUseFollowsTheRule() {
        let expected = BLASKernelSelection.replacement(detected: BLAS.detectedCoreName, features: Int32(dclk_cpu_features()),
                                                       userChoice: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"])
        XCTAssertEqual(BLAS.coreName.lowercased(), (expected ?? BLAS.detectedCoreName).lowercased())
    }

    func testOpenBLASFunctionsAreFoundInItsOwnLibrary() {
        let known: @convention(c) () -> UnsafeMutablePointer<CChar>? = openblas_get_corename
        let config: @convention(c) () -> UnsafeMutablePointer<CChar>? = openblas_get_config
        let knownAddress = unsafeBitCast(known, to: UnsafeRawPointer.self)
        XCTAssertEqual(dclk_symbol_beside(knownAddress, "openblas_get_config"), unsafeBitCast(config, to: UnsafeMutableRawPointer.self))
        XCTAssertNotNil(dclk_symbol_beside(knownAddress, "gotoblas_dynamic_init"))  // Debian's OpenBLAS is DYNAMIC_ARCH
        XCTAssertNil(dclk_symbol_beside(knownAddress, "no_such_function_in_openblas"))
    }
}
