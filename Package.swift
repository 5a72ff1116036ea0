// swift-tools-version:6.0
import PackageDescription

/// dclkit: contrastive self-supervised learning on the CPU.
///
/// - `CBLAS`: Debian's OpenBLAS through its C header (system library).
/// - `DCLKitKernels`: the hand-written SIMD loops in C, each compiled for the x86-64 baseline,
///   for AVX2 + FMA and for AVX-512, chosen at run time by CPUID.
/// - `DCLKit`: the pure-Swift core (tensors, layers, models, augmentations, losses,
///   optimisers, training, evaluation, IO).
/// - `DCLKitABI`: the C ABI (`@_cdecl`), built as the dynamic library `libdclkit.so`.
/// - `DCLKitBench`: the benchmark executable behind `make bench`.
let package = Package(
    name: "dclkit",
    products: [
        .library(name: "dclkit", type: .dynamic, targets: ["DCLKitABI"]),
        .executable(name: "dclkit-bench", targets: ["DCLKitBench"]),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(name: "DCLKitKernels"),
        .target(name: "DCLKit", dependencies: ["CBLAS", "DCLKitKernels"]),
        .target(name: "DCLKitABI", dependencies: ["DCLKit"]),
        .executableTarget(name: "DCLKitBench", dependencies: ["DCLKit", "CBLAS"]),
        .testTarget(name: "DCLKitTests", dependencies: ["DCLKit"]),
    ],
    swiftLanguageModes: [.v5]
)
