//! Transparent huge pages for the whole process, asked of glibc's allocator at start-up.
//!
//! With many keys the feature engine's state is hundreds of MB touched at random, and on
//! 4 KiB pages nearly every line it touches also misses the TLB (a two-level page walk on a
//! virtual machine). Backed by 2 MiB pages the engine bench at 100k keys runs 1.15–1.2×
//! faster. Linux hands out huge pages on request only (`madvise` mode, Debian's default),
//! and glibc's allocator makes that request for all of its memory only when started with
//! `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`: the variable is read before `main`, so eddy
//! re-executes itself once with it set.
//!
//! It does not when:
//! - `EDDY_HUGE_PAGES` is set (to anything: `0` is the way to opt out; eddy sets `1` on the
//!   re-executed process so that it does not loop);
//! - `GLIBC_TUNABLES` is set (the user's tunables are left alone);
//! - the kernel's mode is not `madvise` (`always` gives huge pages anyway, `never` none);
//! - the target is not Linux with glibc.
//!
//! Under `valgrind`, set `EDDY_HUGE_PAGES=0`: the re-executed program would run outside it.
//! The engine bench (`eddy-runtime/benches/engine.rs`) calls it too, so that the engine is
//! measured as `eddy` runs it.

/// The environment variable that turns the re-execution off (any value) and marks the
/// re-executed process.
pub const HUGE_PAGES_VAR: &str = "EDDY_HUGE_PAGES";

/// glibc's tunable that has its allocator ask for huge pages for all its memory.
pub const TUNABLE: &str = "glibc.malloc.hugetlb=1";

/// Should a process re-execute itself, given whether it has [`HUGE_PAGES_VAR`] and
/// `GLIBC_TUNABLES` set, and the kernel's mode as `/sys/kernel/mm/transparent_hugepage/enabled`
/// reads (asked for only when both variables are unset)?
pub fn should_reexec(
    eddy_var_set: bool,
    tunables_set: bool,
    thp_mode: impl FnOnce() -> String,
) -> bool {
    !eddy_var_set && !tunables_set && thp_mode().split_whitespace().any(|m| m == "[madvise]")
}

/// Does this process run with [`TUNABLE`] (its own re-execution's, or the user's)?
pub fn in_effect() -> bool {
    std::env::var_os("GLIBC_TUNABLES")
        .is_some_and(|v| v.to_string_lossy().split(':').any(|t| t == TUNABLE))
}

/// Re-executes this program with glibc's huge-page tunable set, when [`should_reexec`] says
/// so. Call first thing in `main`, before any thread starts. Returns when it does not
/// re-execute, or when the re-execution fails (the program then goes on as it is).
pub fn reexec_with_huge_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;

        let set = |name: &str| std::env::var_os(name).is_some();
        let thp = || {
            std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
                .unwrap_or_default()
        };
        if !should_reexec(set(HUGE_PAGES_VAR), set("GLIBC_TUNABLES"), thp) {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let mut cmd = std::process::Command::new(exe);
        if let Some(arg0) = args.next() {
            cmd.arg0(arg0);
        }
        // `exec` returns only on failure; the program then runs on without huge pages
        let _ = cmd
            .args(args)
            .env("GLIBC_TUNABLES", TUNABLE)
            .env(HUGE_PAGES_VAR, "1")
            .exec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reexecutes_only_in_madvise_mode_and_only_once() {
        let mode = |m: &'static str| move || m.to_string();
        let madvise = mode("always [madvise] never\n");
        assert!(should_reexec(false, false, madvise));
        // the re-executed process or a user's opt-out (EDDY_HUGE_PAGES set), and the
        // user's own tunables: the kernel's mode is not even read
        let unread = || -> String { panic!("read the kernel's mode") };
        assert!(!should_reexec(true, false, unread));
        assert!(!should_reexec(false, true, unread));
        // huge pages anyway, never, or no such file
        assert!(!should_reexec(
            false,
            false,
            mode("[always] madvise never\n")
        ));
        assert!(!should_reexec(
            false,
            false,
            mode("always madvise [never]\n")
        ));
        assert!(!should_reexec(false, false, mode("")));
    }
}
