//! Shared by the CLI tests: a scratch directory that is removed even when a test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed on drop (so also when the test panics).
pub struct Tmp(PathBuf);

impl Tmp {
    /// The process id and a per-process counter keep concurrent tests' directories apart.
    pub fn new(name: &str) -> Tmp {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("eddy-cli-test-{}-{n}-{name}", std::process::id()));
        // A leftover of an earlier process that had the same id.
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("mkdir");
        Tmp(p)
    }

    pub fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }

    pub fn s(&self, f: &str) -> String {
        self.path(f).to_string_lossy().into_owned()
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
