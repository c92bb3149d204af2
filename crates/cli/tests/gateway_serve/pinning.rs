//! `gateway.pin_threads`: with one serving thread per CPU the process may run on, each is
//! pinned to a CPU of its own; otherwise, or with `pin_threads: false`, none is.

use super::*;

/// The CPUs in a `Cpus_allowed_list` value (`0-1`, `0,2-3`).
fn cpu_list(list: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

/// The CPUs the thread or process whose `/proc` status is at `path` may run on.
fn allowed_at(path: &str) -> Option<Vec<usize>> {
    let status = std::fs::read_to_string(path).ok()?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
    Some(cpu_list(line))
}

/// The CPUs each serving thread of process `pid` may run on, once `threads` of them exist
/// and each has set its own (a serving thread pins itself as it starts): thread `i`'s
/// (`serving-i`) at `i`.
#[expect(
    clippy::disallowed_methods,
    reason = "polling another process's threads: bounded, 5 s"
)]
fn serving_threads(pid: u32, threads: usize, pinned: bool) -> Vec<Vec<usize>> {
    let mut found = Vec::new();
    for _ in 0..250 {
        found.clear();
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
        for task in tasks.flatten() {
            let dir = task.path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if let Some(i) = comm.trim().strip_prefix("serving-")
                && let Ok(i) = i.parse::<usize>()
                && let Some(cpus) = allowed_at(&format!("{}/status", dir.display()))
            {
                found.push((i, cpus));
            }
        }
        if found.len() == threads && (!pinned || found.iter().all(|(_, c)| c.len() == 1)) {
            found.sort();
            return found.into_iter().map(|(_, c)| c).collect();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{threads} serving threads (pinned: {pinned}) not found: {found:?}");
}

/// Starts a gateway with `gateway_extra`, returns its serving threads' CPUs, stops it, and
/// returns its stderr's lines too.
fn run(
    name: &str,
    gateway_extra: &str,
    threads: usize,
    pinned: bool,
) -> (Vec<Vec<usize>>, Vec<String>) {
    let dir = TempDir::new(name);
    let config = gateway_config(&dir, "development", "127.0.0.1:9");
    let text = std::fs::read_to_string(&config).unwrap();
    let config = dir.write("pin.yaml", &format!("{text}gateway:\n{gateway_extra}"));
    let (mut gw, _) = start(gateway(&config, "127.0.0.1:0"));
    let lines = stderr_lines(&mut gw.0);
    let cpus = serving_threads(gw.0.id(), threads, pinned);
    signal(&gw.0, "-TERM");
    assert_eq!(exit_code(&mut gw), Some(0));
    // The process has ended: its stderr is whole.
    (cpus, lines.iter().collect())
}

/// `pin_threads: true` and as many threads as the CPUs this process may run on: serving
/// thread `i` on the `i`-th of those CPUs only, and a line that says so.
#[test]
fn one_serving_thread_per_cpu_each_pinned_to_its_own() {
    let allowed = allowed_at("/proc/self/status").unwrap();
    let n = allowed.len();
    let on = format!("  threads: {n}\n  pin_threads: true\n");
    let (cpus, seen) = run("gw-pin", &on, n, true);
    let each: Vec<usize> = cpus.iter().map(|c| c[0]).collect();
    assert_eq!(each, allowed, "thread i on CPU i: {cpus:?}");
    let line = seen.iter().find(|l| l.contains("serving threads")).unwrap();
    assert!(
        line.contains("serving threads pinned, one per CPU"),
        "{line}"
    );
    let list = allowed
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    assert!(line.contains(&format!("cpus={list}")), "{line}");
}

/// By default (`pin_threads` unset: off) and with `pin_threads: false`, one thread per CPU
/// is not pinned: every serving thread may run on every CPU the process may, and no line
/// speaks of pinning. With `pin_threads: true` and more threads than CPUs (or fewer), none is
/// pinned either, and the line says so.
#[test]
fn threads_are_not_pinned_when_told_not_to_or_not_one_per_cpu() {
    let allowed = allowed_at("/proc/self/status").unwrap();
    let n = allowed.len();
    for extra in ["", "  pin_threads: false\n"] {
        let off = format!("  threads: {n}\n{extra}");
        let (cpus, seen) = run("gw-pin-off", &off, n, false);
        assert!(cpus.iter().all(|c| *c == allowed), "{extra}: {cpus:?}");
        assert!(
            !seen.iter().any(|l| l.contains("serving threads")),
            "no pinning line when pinning is off: {seen:?}"
        );
    }
    // Not one per CPU (256 threads at most).
    let other = if n < 256 { n + 1 } else { n - 1 };
    let on = format!("  threads: {other}\n  pin_threads: true\n");
    let (cpus, seen) = run("gw-pin-more", &on, other, false);
    assert!(cpus.iter().all(|c| *c == allowed), "{cpus:?}");
    let line = seen.iter().find(|l| l.contains("serving threads")).unwrap();
    assert!(line.contains("serving threads not pinned"), "{line}");
}
