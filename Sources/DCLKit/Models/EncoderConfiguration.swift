/// What an `Encoder` is: architecture, stem, width multiplier and projection head.
/// Validated on construction; stored as safetensors metadata so a saved encoder can be rebuilt.
public struct EncoderConfiguration: Equatable {
    /// The ResNet depth.
    public enum Architecture: String, CaseIterable {
        /// Basic blocks (2, 2, 2, 2).
        case resnet18
        /// Basic blocks (3, 4, 6, 3).
        case resnet34
        /// Bottleneck blocks (3, 4, 6, 3).
        case resnet50
    }

    /// The first layers.
    public enum Stem: String, CaseIterable {
        /// 3×3 stride-1 convolution, no max-pool (small images such as CIFAR's 32×32).
        case cifar
        /// 7×7 stride-2 convolution and a 3×3 stride-2 max-pool (ImageNet-sized images).
        case imagenet
    }

    /// The projection head.
    public enum Head: String, CaseIterable {
        /// SimCLR's: Linear (no bias) → BatchNorm1d → ReLU → Linear.
        case simclr
        /// MoCo v2's: Linear → ReLU → Linear.
        case moco
        /// Barlow Twins' projector and VICReg's expander: (Linear → BatchNorm1d → ReLU) × 2 → Linear.
        case barlowtwins
        /// SimSiam's projector: (Linear → BatchNorm1d → ReLU) × 2 → Linear → BatchNorm1d.
        case simsiam

        /// Whether the head has a BatchNorm (training then needs at least 2 rows).
        public var hasBatchNorm: Bool { self != .moco }
    }

    /// Largest width multiplier accepted.
    public static let maximumWidth = 16.0
    /// Largest head size accepted.
    public static let maximumHeadSize = 1 << 16

    /// The ResNet depth.
    public let architecture: Architecture
    /// The stem.
    public let stem: Stem
    /// Multiplier on every channel count (1 = torchvision's widths), in (0, 16].
    public let width: Double
    /// The projection head, or nil for the bare encoder.
    public let head: Head?
    /// Hidden size of the head (defaults to the feature dimension).
    public let headHidden: Int
    /// Output size D of the head (default 128).
    public let headOutput: Int

    /// A validated configuration; `headHidden` nil means the feature dimension.
    public init(
        architecture: Architecture = .resnet18, stem: Stem = .cifar, width: Double = 1,
        head: Head? = nil, headHidden: Int? = nil, headOutput: Int = 128
    ) throws {
        guard width.isFinite, width > 0, width <= EncoderConfiguration.maximumWidth else {
            throw EncoderError.invalidConfiguration("width must be a finite number in (0, \(EncoderConfiguration.maximumWidth)], got \(width)")
        }
        let hidden = headHidden ?? EncoderConfiguration.scaled(512, width) * EncoderConfiguration.expansion(architecture)
        for (name, size) in [("head hidden size", hidden), ("head output size", headOutput)] {
            guard size >= 1, size <= EncoderConfiguration.maximumHeadSize else {
                throw EncoderError.invalidConfiguration("\(name) must be between 1 and \(EncoderConfiguration.maximumHeadSize), got \(size)")
            }
        }
        self.architecture = architecture
        self.stem = stem
        self.width = width
        self.head = head
        self.headHidden = hidden
        self.headOutput = headOutput
    }

    /// A configuration from names: `architecture` "resnet18" / "resnet34" / "resnet50", `stem`
    /// "cifar" / "imagenet", `head` "simclr" / "moco" or nil.
    public init(architecture: String, stem: String, width: Double, head: String?, headHidden: Int?, headOutput: Int) throws {
        try self.init(
            architecture: EncoderConfiguration.choice(architecture, "architecture"),
            stem: EncoderConfiguration.choice(stem, "stem"),
            width: width,
            head: head.map { try EncoderConfiguration.choice($0, "head") },
            headHidden: headHidden, headOutput: headOutput)
    }

    /// A channel count of torchvision's ResNet scaled by `width` (rounded, at least 1).
    public func channels(_ base: Int) -> Int { EncoderConfiguration.scaled(base, width) }

    /// Blocks per stage.
    public var blocksPerStage: [Int] {
        switch architecture {
        case .resnet18: return [2, 2, 2, 2]
        case .resnet34, .resnet50: return [3, 4, 6, 3]
        }
    }

    /// Output channels per block plane (1 for basic blocks, 4 for bottlenecks).
    public var expansion: Int { EncoderConfiguration.expansion(architecture) }

    /// F, the size of the pooled features h.
    public var featureDimension: Int { channels(512) * expansion }

    /// D, the size of the projections z (nil without a head).
    public var projectionDimension: Int? { head == nil ? nil : headOutput }

    /// The factor by which the trunk shrinks each side (8 for the CIFAR stem, 32 for ImageNet's);
    /// also the smallest input side accepted.
    public var totalStride: Int { stem == .cifar ? 8 : 32 }

    /// The configuration as safetensors metadata (`dclkit.arch`, `dclkit.stem`, `dclkit.width`,
    /// `dclkit.head` ("none" without a head), `dclkit.head_hidden`, `dclkit.head_out`).
    public var metadata: [String: String] {
        [
            "format": "pt",
            "dclkit.arch": architecture.rawValue,
            "dclkit.stem": stem.rawValue,
            "dclkit.width": "\(width)",
            "dclkit.head": head?.rawValue ?? "none",
            "dclkit.head_hidden": "\(headHidden)",
            "dclkit.head_out": "\(headOutput)",
        ]
    }

    /// The configuration stored in `metadata` (see `metadata`).
    public init(metadata: [String: String]) throws {
        func value(_ key: String) throws -> String {
            guard let v = metadata[key] else { throw EncoderError.invalidConfiguration("metadata lacks \(key)") }
            return v
        }
        // Read through FileNumbers, the one conversion of numbers from files; the ranges are the initialiser's.
        func real(_ key: String) throws -> Double {
            guard let v = FileNumbers.finite(try value(key)) else { throw EncoderError.invalidConfiguration("metadata \(key) is not a finite number") }
            return v
        }
        func count(_ key: String) throws -> Int {
            guard let v = FileNumbers.count(try value(key)) else { throw EncoderError.invalidConfiguration("metadata \(key) is not a count") }
            return v
        }
        let head = try value("dclkit.head")
        try self.init(
            architecture: try value("dclkit.arch"), stem: try value("dclkit.stem"), width: try real("dclkit.width"),
            head: head == "none" ? nil : head, headHidden: try count("dclkit.head_hidden"), headOutput: try count("dclkit.head_out"))
    }

    private static func scaled(_ base: Int, _ width: Double) -> Int { max(1, Int((Double(base) * width).rounded())) }

    private static func expansion(_ architecture: Architecture) -> Int {
        architecture == .resnet50 ? Bottleneck.expansion : BasicBlock.expansion
    }

    private static func choice<T: RawRepresentable & CaseIterable>(_ name: String, _ what: String) throws -> T where T.RawValue == String {
        guard let v = T(rawValue: name) else {
            let known = T.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            throw EncoderError.invalidConfiguration("unknown \(what) \"\(name)\" (expected one of \(known))")
        }
        return v
    }
}
