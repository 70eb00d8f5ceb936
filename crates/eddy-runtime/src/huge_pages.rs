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
//!
//! This file uses only `std`: the engine bench of `eddy-core` includes it too, so that the
//! engine is measured as `eddy` runs it.

/// The environment variable that turns the re-execution off (any value) and marks the
/// re-executed process.
pub const HUGE_PAGES_VAR: &str = "EDDY_HUGE_PAGES";

/// Should a process with these variables, on a kernel whose
/// `/sys/kernel/mm/transparent_hugepage/enabled` reads `thp_mode`, re-execute itself?
pub fn should_reexec(eddy_var: Option<&str>, glibc_tunables: Option<&str>, thp_mode: &str) -> bool {
    eddy_var.is_none()
        && glibc_tunables.is_none()
        && thp_mode.split_whitespace().any(|m| m == "[madvise]")
}

/// Re-executes this program with glibc's huge-page tunable set, when [`should_reexec`] says
/// so. Call first thing in `main`, before any thread starts. Returns when it does not
/// re-execute, or when the re-execution fails (the program then goes on as it is).
pub fn reexec_with_huge_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;

        let var = |name: &str| std::env::var_os(name);
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        if !should_reexec(
            var(HUGE_PAGES_VAR).as_ref().map(|_| ""),
            var("GLIBC_TUNABLES").as_ref().map(|_| ""),
            &thp,
        ) {
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
            .env("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")
            .env(HUGE_PAGES_VAR, "1")
            .exec();
    }
}

#[cfg(test)]
mod tests {
    // no `use super::*`: the engine bench includes this file and builds this module
    // without its test, so the import would be unused there
    #[test]
    fn reexecutes_only_in_madvise_mode_and_only_once() {
        let madvise = "always [madvise] never\n";
        assert!(super::should_reexec(None, None, madvise));
        // the re-executed process, and a user's opt-out
        assert!(!super::should_reexec(Some("1"), None, madvise));
        assert!(!super::should_reexec(Some("0"), None, madvise));
        // the user's own tunables
        assert!(!super::should_reexec(
            None,
            Some("glibc.malloc.arena_max=2"),
            madvise
        ));
        // huge pages anyway, never, or no such file
        assert!(!super::should_reexec(
            None,
            None,
            "[always] madvise never\n"
        ));
        assert!(!super::should_reexec(
            None,
            None,
            "always madvise [never]\n"
        ));
        assert!(!super::should_reexec(None, None, ""));
    }
}
