//! Memory of this process, from `/proc/self/status` (Linux).

/// `VmHWM`: the peak resident set size so far, in MiB.
pub fn peak_mib() -> f64 {
    field_kib("VmHWM:") / 1024.0
}

/// `VmRSS`: the resident set size now, in MiB.
pub fn current_mib() -> f64 {
    field_kib("VmRSS:") / 1024.0
}

fn field_kib(name: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(f64::NAN)
}
