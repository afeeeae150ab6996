//! The CPUs this process may run on. glommio's `CpuSet::online()` ignores
//! the process's affinity mask, so executors pinned over it land outside a
//! `taskset -c` (seen: a broker under `taskset -c 1` pinned its one shard to
//! CPU 0, the core given to the client): placements start from
//! [`allowed_cpus`] instead.

use glommio::CpuSet;

/// The online CPUs this thread's affinity mask allows (all online CPUs when
/// the mask cannot be read); `None` when the topology cannot be read.
pub fn allowed_cpus() -> Option<CpuSet> {
    let online = CpuSet::online().ok()?;
    // SAFETY: cpu_set_t is plain bits; all zeros is the empty set.
    let mut mask: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `mask` is a live cpu_set_t of `size` bytes for the call.
    if unsafe { libc::sched_getaffinity(0, size, &mut mask) } != 0 {
        return Some(online);
    }
    let settable = libc::CPU_SETSIZE as usize;
    // SAFETY: CPU_ISSET reads `mask` at a bit below CPU_SETSIZE.
    Some(online.filter(|cpu| cpu.cpu < settable && unsafe { libc::CPU_ISSET(cpu.cpu, &mask) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_narrowed_affinity_mask_narrows_the_allowed_cpus() {
        let all = allowed_cpus().expect("topology").len();
        assert!(all >= 1);
        // On a thread of its own, so the test runner's threads keep their mask.
        let narrowed = std::thread::spawn(|| {
            // SAFETY: as in `allowed_cpus`; CPU 0 is below CPU_SETSIZE.
            let mut mask: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            unsafe { libc::CPU_SET(0, &mut mask) };
            let size = std::mem::size_of::<libc::cpu_set_t>();
            // SAFETY: a live cpu_set_t of `size` bytes.
            assert_eq!(unsafe { libc::sched_setaffinity(0, size, &mask) }, 0);
            allowed_cpus()
                .expect("topology")
                .into_iter()
                .map(|c| c.cpu)
                .collect::<Vec<_>>()
        })
        .join()
        .expect("thread");
        assert_eq!(narrowed, vec![0]);
    }
}
