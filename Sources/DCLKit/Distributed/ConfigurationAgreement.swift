/// The start-of-run check that every rank resolved the same configuration: each rank hashes
/// its resolved configuration text (`FNVHash` over the UTF-8 bytes), the hashes are
/// all-gathered, and any difference throws the same `DistributedError.mismatch` on every rank,
/// naming which ranks disagree with rank 0.
public enum ConfigurationAgreement {
    /// The `FNVHash` of `text`'s UTF-8 bytes.
    public static func hash(_ text: String) -> UInt64 {
        var h = FNVHash()
        h.mix(text.utf8)
        return h.value
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
