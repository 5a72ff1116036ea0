/// The memory checks of a run's steps and embeddings: as `Encoder.requireMemory(forInputShape:training:)`
/// does for one encoder, the trainer bounds everything a step grows (the views, the encoder
/// and, for the MoCo family, the key encoder, the loss's matrices, the batch's pixels and the
/// augmentation's scratch) with saturating arithmetic and asks the allocator for it before the
/// first step of a shape, so a run the process cannot hold stops with a `TensorError`.
extension ContrastiveTrainer {
    /// An upper bound on the floats building a trainer of `configuration` allocates: the encoder
    /// (`Encoder.constructionElements`), the optimiser's state for it (a momentum buffer per
    /// value), and what the method builds (`MethodSettings.constructionElements`: a second
    /// encoder, a prediction head, a queue or support set).
    public static func constructionElements(_ configuration: RunConfiguration) -> Int {
        [Encoder.constructionElements(configuration.encoder), Encoder.stateCount(configuration.encoder),
         configuration.settings.constructionElements(encoder: configuration.encoder)].reduce(0, saturatingSum)
    }

    /// Throws `TensorError.outOfMemory` unless everything a trainer of `configuration` builds
    /// (`constructionElements`) can be allocated at this moment: the check a fresh run and a
    /// resumed one make before anything is built, whose layers allocate without throwing.
    public static func requireMemory(for configuration: RunConfiguration) throws {
        try Tensor.requireAllocatable(floats: constructionElements(configuration))
    }

    /// The augmentation's (or the evaluation transform's) scratch for source images of (height, width).
    private func augmentScratch(_ height: Int, _ width: Int) -> Int {
        let side = pipeline.size
        return AugmentScratch.bufferElements(height: height, width: width, outputHeight: side, outputWidth: side,
                                             kernel: 2 * side + 1)
    }

    /// Throws `TensorError.outOfMemory` unless a step on `count` images of a dataset of
    /// (height, width, channels) images can allocate its buffers; a shape no larger on any axis
    /// than one granted before is not asked again (see `Encoder.requireMemory(forInputShape:training:)`).
    public func requireMemory(forStepOf count: Int, height: Int, width: Int, channels: Int) throws {
        // Step keys have five axes, embedding keys four, so that neither covers the other.
        try checkedShapes.grant([count, height, width, channels, 1]) { try requireStepMemory(count, height, width, channels) }
    }

    /// Throws `TensorError.outOfMemory` unless `embed` of `count` images of (height, width,
    /// channels) can allocate its buffers (the resized batch and an eval-mode forward).
    public func requireMemory(forEmbeddingOf count: Int, height: Int, width: Int, channels: Int) throws {
        try checkedShapes.grant([count, height, width, channels]) {
            let side = pipeline.size
            let elements = [encoder.bufferElements(inputShape: [count, side, side, 3], training: false),
                            saturatingProduct(count, side, side, 3), augmentScratch(height, width)].reduce(0, saturatingSum)
            try Tensor.requireAllocatable(floats: elements)
        }
    }

    private func requireStepMemory(_ count: Int, _ height: Int, _ width: Int, _ channels: Int) throws {
        let side = pipeline.size, views = saturatingProduct(2, count)
        let model = encoder.bufferElements(inputShape: [views, side, side, 3], training: true)
        let dim = max(configuration.encoder.headOutput, configuration.encoder.featureDimension, configuration.encoder.headHidden)
        let loss = method.bufferElements(views: views, side: side, dim: dim)
        let elements = [model, loss, saturatingProduct(views, side, side, 3), augmentScratch(height, width),
                        saturatingProduct(count, height, width, channels) / MemoryLayout<Float>.stride + 1].reduce(0, saturatingSum)
        try Tensor.requireAllocatable(floats: elements)
    }
}
