import DCLKit

/// The ABI error for any thrown error, the one translation at the boundary (`exported` applies
/// it): a configuration field of the wrong JSON type is a type error and any other broken rule an
/// invalid argument, a `TrainingError` keeps its kind (value, state, format), a wrong model or
/// state is an invalid argument, `IOFailure` an I/O or format error, a `TensorError` (an
/// allocation refused or a size beyond the machine) a memory error, a failed collective a
/// communication error.
func abiError(_ error: Error) -> ABIError {
    switch error {
    case let error as ABIError: return error
    case let error as ConfigurationError:
        return error.kind == .type ? ABIError.type(error.description) : ABIError.invalid(error.description)
    case let error as TrainingError:
        switch error.kind {
        case .value: return ABIError.invalid(error.description)
        case .state: return ABIError.state(error.description)
        case .format: return ABIError.format(error.description)
        }
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
