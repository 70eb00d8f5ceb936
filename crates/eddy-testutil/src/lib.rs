//! Shared by eddy's tests and benches (a dev-dependency only).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed on drop: so also when the test
/// panics, and no run leaves anything behind.
///
/// ```
/// let dir = eddy_testutil::Tmp::new("doc");
/// std::fs::write(dir.join("a.txt"), "x").unwrap();
/// let kept = dir.to_path_buf();
/// drop(dir);
/// assert!(!kept.exists());
/// ```
pub struct Tmp(PathBuf);

impl Tmp {
    /// `name` says which test it is for; the process id and a per-process counter keep
    /// concurrent tests' directories apart.
    pub fn new(name: &str) -> Tmp {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("eddy-test-{}-{n}-{name}", std::process::id()));
        // a leftover of an earlier process that had the same id
        let _ = std::fs::remove_dir_all(&p);
        if let Err(e) = std::fs::create_dir_all(&p) {
            panic!("cannot make {}: {e}", p.display());
        }
        Tmp(p)
    }

    /// A file (or directory) in it, as a string (for command lines and specs); as a path it
    /// is `join(f)`, through `Deref<Target = Path>`.
    pub fn s(&self, f: &str) -> String {
        self.0.join(f).to_string_lossy().into_owned()
    }
}

impl std::ops::Deref for Tmp {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
