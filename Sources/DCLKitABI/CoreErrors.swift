import DCLKit

/// Runs `body`, turning the core's thrown errors into ABI errors (see `abiError`).
func translatingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        throw abiError(error)
    }
}

/// The ABI error for any thrown error: a wrong model, state or configuration is an invalid
/// argument, `IOFailure` an I/O or format error, a `TensorError` (an allocation refused or a
/// size beyond the machine) a memory error, a failed collective a communication error.
func abiError(_ error: Error) -> ABIError {
    switch error {
    case let error as ABIError: return error
    case let error as EncoderError: return ABIError.invalid(error.description)
    case IOFailure.io(let message): return ABIError.io(message)
    case IOFailure.format(let message): return ABIError.format(message)
    case let error as TensorError: return ABIError.memory(error.description)
    case let error as OptimizerStateError: return ABIError.format(error.description)
    case let error as MethodStateError: return ABIError.format("queue state: \(error.description)")
    case let error as DistributedError:
        if case .collectiveFailed = error { return ABIError.communication(error.description) }
        return ABIError.invalid(error.description)
    default: return ABIError.invalid("\(error)")
    }
}
