/// Per-column operations on a row-major (rows, columns) matrix, shared by the layers with a bias.
enum RowVectors {
    /// Adds `vector` (columns) to every row of `matrix`.
    static func add(_ vector: UnsafePointer<Float>, toRowsOf matrix: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        for r in 0..<rows {
            let row = matrix + r * columns
            for j in 0..<columns { row[j] += vector[j] }
        }
    }

    /// Adds the column sums of `matrix` to `sums` (columns).
    static func addColumnSums(of matrix: UnsafePointer<Float>, rows: Int, columns: Int, into sums: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = matrix + r * columns
            for j in 0..<columns { sums[j] += row[j] }
        }
    }
}
