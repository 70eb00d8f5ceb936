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

/// [`prefetch`] every cache line of `xs`.
#[inline]
pub(super) fn prefetch_span<T>(xs: &[T]) {
    prefetch_bytes(xs.as_ptr().cast(), std::mem::size_of_val(xs));
}

/// [`prefetch`] every cache line of the `bytes` bytes from `base`.
#[inline]
pub(super) fn prefetch_bytes(base: *const u8, bytes: usize) {
    let skew = base as usize & 63;
    let lines = (skew + bytes).div_ceil(64);
    let first = base.wrapping_sub(skew);
    for i in 0..lines {
        prefetch(first.wrapping_add(i * 64));
    }
}
