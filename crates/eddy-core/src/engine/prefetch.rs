//! Cache prefetch hints.

/// Hints the CPU to start loading the cache line holding `p` into the cache (no effect on
/// results; a no-op off x86-64).
#[inline(always)]
pub(super) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults and has no observable effect,
    // whatever the address, and `_mm_prefetch` needs only SSE, part of the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// [`prefetch`] each item of `xs`: whole cache lines (64 bytes each, aligned to 64, so an
/// item's first byte names its line).
#[inline]
pub(super) fn prefetch_lines<T>(xs: &[T]) {
    const { assert!(std::mem::size_of::<T>() == 64 && std::mem::align_of::<T>() == 64) };
    let Some(last) = xs.len().checked_sub(1) else {
        return;
    };
    // the first three without a loop (a few lines is the usual size: a loop's setup would
    // cost more than the hints), the last of them again when there are fewer
    for i in [0, 1, 2] {
        if let Some(x) = xs.get(i.min(last)) {
            prefetch(x);
        }
    }
    for x in xs.iter().skip(3) {
        prefetch(x);
    }
}
