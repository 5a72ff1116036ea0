/// The 64-bit FNV-1a hash of a sequence of bytes: what the ranks of a data-parallel run compare
/// (their resolved configurations, a sample of their training images) and the checkpoint's state
/// hash. Not cryptographic: it tells different bytes apart, it does not resist forgery.
///
/// ```swift
/// var hash = FNVHash()
/// hash.mix("resnet18".utf8)
/// hash.value
/// ```
public struct FNVHash {
    /// The hash of the bytes mixed in so far (FNV-1a's offset basis before any).
    public private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    /// A hash of no bytes.
    public init() {}

    /// Continues the hash over `bytes`.
    public mutating func mix<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes {
            value ^= UInt64(byte)
            value = value &* 0x0000_0100_0000_01B3
        }
    }
}
