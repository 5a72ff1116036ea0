import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The threads that run the library's parallel regions (`Threads.forEachChunk`, `Workspace.forEachChunk`,
/// `Workspace.forEachWorker`): the calling thread and up to n − 1 workers run the n iterations of
/// one region, claiming them one at a time from a shared counter. Between regions a worker keeps
/// checking for the next one for `spinSeconds` before it sleeps, so the back-to-back regions of a
/// training step start on every thread at once. GCD's `concurrentPerform` woke its worker so late
/// that the calling thread ran both iterations of a 2-iteration region itself when they took
/// 0.5 ms each, and most of the time even at 5 ms each (Zen 4 VM, 2 cores, 2026-12-07); this pool
/// started its worker in 1–27 µs (medians) there.
///
/// Which thread runs an iteration depends on timing, what it computes does not: each iteration
/// gets only its index. A region asked for while another runs (a second thread calling into the
/// library, or a region inside a region) runs on GCD instead.
final class WorkerPool: @unchecked Sendable {
    /// The process's pool.
    static let shared = WorkerPool()

    /// How long an idle worker keeps checking for the next region before it sleeps.
    static let spinSeconds = 0.002

    /// The current region's number << 24 | its iteration count << 12 | its next unclaimed iteration.
    private let ticket = Atomic<Int>(0)
    /// Iterations of the current region finished.
    private let finished = Atomic<Int>(0)
    /// Workers asleep or about to sleep.
    private let sleepers = Atomic<Int>(0)
    /// Whether a region is running.
    private let busy = Atomic<Bool>(false)
    /// The current region's body (set before its ticket is published).
    private var body: ((Int) -> Void)?
    /// Workers started, and the process they were started in (a forked child has none).
    private var threads = 0
    private var process = getpid()
    /// The sleepers' mutex and condition, at fixed addresses (the pool lives as long as the process).
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    private init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
    }

    /// Runs `body(i)` for every i in 0..<n, in parallel on the calling thread and the workers.
    func run(_ n: Int, _ body: (Int) -> Void) {
        guard n > 1 else {
            if n == 1 { body(0) }
            return
        }
        guard n < 1 << 12, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            DispatchQueue.concurrentPerform(iterations: n, execute: body)
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        grow(to: n - 1)
        withoutActuallyEscaping(body) { escaping in
            self.body = escaping
            finished.store(0, ordering: .relaxed)
            let region = (ticket.load(ordering: .relaxed) >> 24) + 1
            ticket.store(region << 24 | n << 12, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(wake)
                pthread_mutex_unlock(mutex)
            }
            work(region)
            var checks = 0
            while finished.load(ordering: .acquiring) < n {
                checks += 1
                if checks > 64 { sched_yield() }
            }
            self.body = nil
        }
    }

    /// Claims and runs iterations of region `region` until none is left.
    private func work(_ region: Int) {
        var current = ticket.load(ordering: .acquiring)
        while current >> 24 == region {
            let (count, index) = ((current >> 12) & 0xFFF, current & 0xFFF)
            if index >= count { return }
            let (exchanged, original) = ticket.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            guard exchanged else {
                current = original
                continue
            }
            body!(index)
            finished.add(1, ordering: .releasing)
            current = ticket.load(ordering: .acquiring)
        }
    }

    /// Starts workers until there are `count` (again from none in a forked child).
    private func grow(to count: Int) {
        if process != getpid() {
            (threads, process) = (0, getpid())
            sleepers.store(0, ordering: .relaxed)
            pthread_mutex_init(mutex, nil)
            pthread_cond_init(wake, nil)
        }
        while threads < count {
            var thread = pthread_t()
            let worker = Unmanaged.passRetained(Worker(pool: self, number: threads + 1))
            let started = pthread_create(&thread, nil, { context in
                let worker = Unmanaged<Worker>.fromOpaque(context!).takeRetainedValue()
                free(malloc(1))  // the thread's malloc arena (64 MiB of address space) now, not at a later first allocation
                worker.pool.loop(worker.number)
                return nil
            }, worker.toOpaque())
            guard started == 0 else {  // fewer workers: the calling thread runs what they would
                worker.release()
                return
            }
            pthread_detach(thread)
            threads += 1
        }
    }

    /// Worker `number` (1, 2, …): waits for each new region (checking, then asleep) and takes
    /// part in it if the region has more than `number` iterations, so a region of n iterations
    /// always runs on the same n threads at most (each keeps its own OpenBLAS buffer and caches).
    private func loop(_ number: Int) {
        var seen = ticket.load(ordering: .acquiring) >> 24
        while true {
            let deadline = LayerProfile.now() + Self.spinSeconds
            var region = ticket.load(ordering: .acquiring) >> 24
            var checks = 0
            while region == seen {
                checks += 1
                if checks & 255 == 0 && LayerProfile.now() > deadline { break }
                region = ticket.load(ordering: .acquiring) >> 24
            }
            if region == seen {
                pthread_mutex_lock(mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while ticket.load(ordering: .sequentiallyConsistent) >> 24 == seen { pthread_cond_wait(wake, mutex) }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(mutex)
                region = ticket.load(ordering: .acquiring) >> 24
            }
            seen = region
            if (ticket.load(ordering: .acquiring) >> 12) & 0xFFF > number { work(region) }
        }
    }
}

/// What a worker thread starts with.
private final class Worker {
    let pool: WorkerPool
    let number: Int

    init(pool: WorkerPool, number: Int) {
        (self.pool, self.number) = (pool, number)
    }
}
