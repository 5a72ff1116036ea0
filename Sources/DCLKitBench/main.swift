import DCLKit

/// `make bench`: each section prints one markdown table, timed in release mode.
/// Usage: dclkit-bench [section ...]; no argument runs them all.
let sections: [(name: String, run: () -> Void)] = [
    ("kernels", KernelBench.run),
    ("bf16", BFloat16Bench.run),
    ("loss", LossBench.run),
    ("moco", MoCoBench.run),
    ("train", TrainBench.run),
    ("eval", EvalBench.run),
    ("encoder", EncoderBench.run),
    ("convolution", ConvolutionBench.run),
    ("resnet50", ResNet50ConvolutionBench.run),
    ("augment", AugmentBench.run),
    ("pretrain", PretrainBench.run),
]
let wanted = Set(CommandLine.arguments.dropFirst())
print("SIMD: CPU features \(SIMDDispatch.cpuFeatures.joined(separator: ", ")); dclkit kernels \(SIMDDispatch.level)")
for section in sections where wanted.isEmpty || wanted.contains(section.name) {
    section.run()
}
