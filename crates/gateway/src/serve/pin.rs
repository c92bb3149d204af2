//! Serving threads pinned to CPUs (`gateway.pin_threads`, opt-in): with one serving thread
//! per CPU the process may run on, thread `i` runs on the `i`-th of those CPUs only.
//!
//! Unpinned, the scheduler moves a serving thread to whichever core is free when its socket
//! wakes it, and there it finds its caches cold; on a machine shared with other processes
//! (a load generator and an upstream on the same two cores, in the benches) that costs a
//! request more than the wait for its own core does; pinned, it cannot leave a core another
//! process keeps busy: docs/GATEWAY.md, "Cores", has the trade and the figures. Only a thread per CPU is pinned: fewer threads pinned to the first CPUs would
//! crowd them (every gateway on a host would pick the same ones), more would share a CPU.

/// The CPU each of `threads` serving threads is pinned to, thread `i` to the `i`-th, given the
/// CPUs the process may run on (`allowed`, in order; `None` when unknown): all of them, when
/// there are exactly as many threads as CPUs; otherwise none.
pub(super) fn plan(threads: usize, allowed: Option<Vec<usize>>) -> Option<Vec<usize>> {
    allowed.filter(|cpus| threads > 0 && cpus.len() == threads)
}

/// The CPUs the calling thread may run on (its affinity mask), in order; `None` when the
/// system does not say.
pub(super) fn allowed() -> Option<Vec<usize>> {
    core_affinity::get_core_ids().map(|ids| ids.into_iter().map(|c| c.id).collect())
}

/// Pins the calling thread to `cpu`: whether it could.
pub(super) fn to(cpu: usize) -> bool {
    core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
}

#[cfg(test)]
mod tests {
    use super::plan;

    #[test]
    fn threads_are_pinned_only_one_per_allowed_cpu() {
        assert_eq!(plan(2, Some(vec![0, 1])), Some(vec![0, 1]));
        // A mask with gaps (a container's cpuset): thread i on its i-th CPU.
        assert_eq!(plan(3, Some(vec![2, 5, 7])), Some(vec![2, 5, 7]));
        // Fewer threads than CPUs (a CPU quota, the default's cap of 8, a setting): none.
        assert_eq!(plan(1, Some(vec![0, 1])), None);
        assert_eq!(plan(8, Some((0..16).collect())), None);
        // More threads than CPUs: none.
        assert_eq!(plan(4, Some(vec![0, 1])), None);
        // The system does not say.
        assert_eq!(plan(2, None), None);
        assert_eq!(plan(0, Some(vec![])), None);
    }
}
