/// The start-of-run check that every rank resolved the same configuration: each rank hashes
/// its resolved configuration text (64-bit FNV-1a over the UTF-8 bytes), the hashes are
/// all-gathered, and any difference throws the same `DistributedError.mismatch` on every rank,
/// naming which ranks disagree with rank 0.
public enum ConfigurationAgreement {
    /// The 64-bit FNV-1a hash of `text`'s UTF-8 bytes.
    public static func hash(_ text: String) -> UInt64 {
        var h = hashStart
        mix(text.utf8, into: &h)
        return h
    }

    /// FNV-1a's offset basis, the hash of no bytes.
    public static let hashStart: UInt64 = 0xCBF2_9CE4_8422_2325

    /// Continues the FNV-1a hash `h` over `bytes`.
    public static func mix<Bytes: Sequence>(_ bytes: Bytes, into h: inout UInt64) where Bytes.Element == UInt8 {
        for byte in bytes {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01B3
        }
    }

    /// Throws on every rank unless all ranks of `communicator` pass the same `text`; `what`
    /// names the text in the message ("resolved configuration").
    public static func check(_ text: String, what: String = "resolved configuration", communicator: Communicator) throws {
        let mine = [Int64(bitPattern: hash(text))]
        var all = [Int64](repeating: 0, count: communicator.size)
        try mine.withUnsafeBufferPointer { send in
            try all.withUnsafeMutableBufferPointer { try communicator.allgather(send, into: $0) }
        }
        let differing = all.indices.filter { all[$0] != all[0] }
        guard !differing.isEmpty else { return }
        let hex = { (v: Int64) in "0x" + String(UInt64(bitPattern: v), radix: 16) }
        throw DistributedError.mismatch(
            "the \(what) differs between ranks: rank 0 has hash \(hex(all[0])), "
                + differing.map { "rank \($0) has \(hex(all[$0]))" }.joined(separator: ", ")
                + "; start every rank with the same \(what)")
    }
}
