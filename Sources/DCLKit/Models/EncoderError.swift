/// Errors of building, feeding or loading an `Encoder`. Reading or writing files throws `IOFailure`.
public enum EncoderError: Error, Equatable, CustomStringConvertible {
    /// An unknown architecture, stem or head name, or a width or head size out of range.
    case invalidConfiguration(String)
    /// An input batch the encoder cannot take (rank, channels, size, batch size in training).
    case invalidInput(String)
    /// A state dict whose names or shapes do not match the encoder's.
    case stateMismatch(String)
    /// A state dict whose values no trained model has (NaN or infinite values, a negative
    /// running variance, a batch count that is not a whole number ≥ 0).
    case invalidState(String)

    /// The message.
    public var description: String {
        switch self {
        case .invalidConfiguration(let m), .invalidInput(let m), .stateMismatch(let m), .invalidState(let m): return m
        }
    }
}
