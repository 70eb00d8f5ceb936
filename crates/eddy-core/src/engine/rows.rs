//! Fixed-size per-key rows of words, each row starting on a cache line.

/// `stride` words per key in one buffer, from its first 64-byte boundary: a row of up to
/// 8 words (rounded up to a power of two) never straddles two lines, a longer one (rounded
/// up to whole lines) touches only its own. Used where an event of a random key writes its
/// whole row (the online store), so that it touches as few lines as the row's size allows.
#[derive(Debug)]
pub(super) struct KeyRows<T> {
    words: Vec<T>,
    /// Words before the first line boundary of `words`' buffer.
    skew: usize,
    stride: usize,
    keys: usize,
    /// Keys the buffer has room for (kept apart from its capacity, which also holds the
    /// skew: which buffers are replaced must not depend on where they are).
    room: usize,
}

impl<T: Copy + Default> KeyRows<T> {
    /// Bytes of one word.
    const WORD: usize = {
        assert!(std::mem::size_of::<T>() > 0 && 64 % std::mem::size_of::<T>() == 0);
        std::mem::size_of::<T>()
    };
    /// Words per cache line.
    const PER_LINE: usize = 64 / Self::WORD;

    /// Rows of at least `words` words each.
    pub(super) fn new(words: usize) -> Self {
        let stride = if words <= Self::PER_LINE {
            words.max(1).next_power_of_two()
        } else {
            words.next_multiple_of(Self::PER_LINE)
        };
        KeyRows {
            words: Vec::new(),
            skew: 0,
            stride,
            keys: 0,
            room: 0,
        }
    }

    /// Makes room for keys below `n`, each new row filled by `fill(word index)`.
    pub(super) fn grow(&mut self, n: usize, fill: impl Fn(usize) -> T) {
        if n <= self.keys {
            return;
        }
        if n > self.room {
            // a new buffer, for at least twice the keys (a realloc could move the rows off
            // their line boundary), with room to start them on one
            self.room = n.max(2 * self.keys);
            let mut w: Vec<T> = Vec::with_capacity(self.room * self.stride + Self::PER_LINE);
            let addr = w.as_ptr() as usize;
            let skew = (addr.next_multiple_of(64) - addr) / Self::WORD;
            w.resize(skew, T::default());
            w.extend_from_slice(self.words.get(self.skew..).unwrap_or_default());
            (self.words, self.skew) = (w, skew);
        }
        for _ in self.keys..n {
            self.words.extend((0..self.stride).map(&fill));
        }
        self.keys = n;
    }

    #[inline]
    pub(super) fn row(&self, k: usize) -> Option<&[T]> {
        let at = self.skew + k.checked_mul(self.stride)?;
        self.words.get(at..at + self.stride)
    }

    #[inline]
    pub(super) fn row_mut(&mut self, k: usize) -> Option<&mut [T]> {
        let at = self.skew + k.checked_mul(self.stride)?;
        self.words.get_mut(at..at + self.stride)
    }

    /// The address of key 0's row and the bytes per key, for prefetching.
    pub(super) fn addr(&self) -> (usize, usize) {
        let base = self.words.as_ptr().wrapping_add(self.skew);
        (base as usize, self.stride * Self::WORD)
    }

    pub(super) fn bytes(&self) -> usize {
        self.words.capacity() * Self::WORD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_start_on_lines_and_keep_their_words_when_the_buffer_grows() {
        for (asked, stride) in [(1, 1), (3, 4), (5, 8), (8, 8), (9, 16), (17, 24)] {
            let mut r: KeyRows<u64> = KeyRows::new(asked);
            r.grow(3, |i| i as u64);
            r.row_mut(2).unwrap()[0] = 77;
            r.grow(1000, |i| 100 + i as u64);
            let (base, bytes) = r.addr();
            assert_eq!(base % 64, 0);
            assert_eq!(bytes, stride * 8);
            assert_eq!(r.row(2).unwrap()[0], 77);
            assert_eq!(r.row(1).unwrap()[stride - 1], stride as u64 - 1);
            assert_eq!(r.row(999).unwrap()[0], 100);
            assert!(r.row(1000).is_none());
        }
    }
}
