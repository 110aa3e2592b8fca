//! A global allocator that counts, so every server reports allocations the same way.
//!
//! Each server binary installs it with
//! `#[global_allocator] static ALLOC: CountingAlloc = CountingAlloc::new();`
//! and the control channel ([`crate::control`]) reads [`CountingAlloc::snapshot`].
//! The counters are relaxed atomics: a snapshot is not a consistent cut across threads,
//! which does not matter for deltas over a whole benchmark phase.

#![allow(unsafe_code)] // `GlobalAlloc` is an unsafe trait; this module only forwards to `System`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// The system allocator plus counters.
#[derive(Debug)]
pub struct CountingAlloc {
    allocs: AtomicU64,
    reallocs: AtomicU64,
    deallocs: AtomicU64,
    bytes_allocated: AtomicU64,
    live_bytes: AtomicUsize,
    peak_live_bytes: AtomicUsize,
}

/// Counter values at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocSnapshot {
    /// Calls to `alloc` and `alloc_zeroed`.
    pub allocs: u64,
    /// Calls to `realloc` (a grow or shrink; often a new allocation underneath).
    pub reallocs: u64,
    /// Calls to `dealloc`.
    pub deallocs: u64,
    /// Bytes requested by `alloc`, `alloc_zeroed` and growing `realloc`s.
    pub bytes_allocated: u64,
    /// Bytes currently allocated.
    pub live_bytes: u64,
    /// The most bytes ever allocated at once.
    pub peak_live_bytes: u64,
}

impl CountingAlloc {
    /// All counters at zero.
    pub const fn new() -> Self {
        Self {
            allocs: AtomicU64::new(0),
            reallocs: AtomicU64::new(0),
            deallocs: AtomicU64::new(0),
            bytes_allocated: AtomicU64::new(0),
            live_bytes: AtomicUsize::new(0),
            peak_live_bytes: AtomicUsize::new(0),
        }
    }

    /// Reads the counters. Allocation-free, so a snapshot does not count itself.
    pub fn snapshot(&self) -> AllocSnapshot {
        AllocSnapshot {
            allocs: self.allocs.load(Relaxed),
            reallocs: self.reallocs.load(Relaxed),
            deallocs: self.deallocs.load(Relaxed),
            bytes_allocated: self.bytes_allocated.load(Relaxed),
            live_bytes: self.live_bytes.load(Relaxed) as u64,
            peak_live_bytes: self.peak_live_bytes.load(Relaxed) as u64,
        }
    }

    fn grew(&self, by: usize) {
        self.bytes_allocated.fetch_add(by as u64, Relaxed);
        let live = self.live_bytes.fetch_add(by, Relaxed).wrapping_add(by);
        self.peak_live_bytes.fetch_max(live, Relaxed);
    }

    fn shrank(&self, by: usize) {
        self.live_bytes.fetch_sub(by, Relaxed);
    }
}

impl Default for CountingAlloc {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and
// only updates counters afterwards; counting never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            self.allocs.fetch_add(1, Relaxed);
            self.grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            self.allocs.fetch_add(1, Relaxed);
            self.grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) };
        self.deallocs.fetch_add(1, Relaxed);
        self.shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let new_ptr = unsafe { System.realloc(ptr, layout, new_size) };
        if !new_ptr.is_null() {
            self.reallocs.fetch_add(1, Relaxed);
            let old_size = layout.size();
            if new_size >= old_size {
                self.grew(new_size - old_size);
            } else {
                self.shrank(old_size - new_size);
            }
        }
        new_ptr
    }
}

impl AllocSnapshot {
    /// What happened between `earlier` and `self` (peak and live are `self`'s).
    pub fn since(&self, earlier: &AllocSnapshot) -> AllocSnapshot {
        AllocSnapshot {
            allocs: self.allocs.saturating_sub(earlier.allocs),
            reallocs: self.reallocs.saturating_sub(earlier.reallocs),
            deallocs: self.deallocs.saturating_sub(earlier.deallocs),
            bytes_allocated: self.bytes_allocated.saturating_sub(earlier.bytes_allocated),
            live_bytes: self.live_bytes,
            peak_live_bytes: self.peak_live_bytes,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // A private instance (not the global allocator) driven through the trait directly.
    #[test]
    fn counts_alloc_realloc_dealloc_and_tracks_peak() {
        let counter = CountingAlloc::new();
        let layout = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: the layout is non-zero; every pointer goes back with its layout.
        unsafe {
            let a = counter.alloc(layout);
            assert!(!a.is_null());
            let b = counter.alloc_zeroed(layout);
            assert!(!b.is_null());
            let a = counter.realloc(a, layout, 300);
            assert!(!a.is_null());
            let grown = Layout::from_size_align(300, 8).unwrap();
            counter.dealloc(a, grown);
            counter.dealloc(b, layout);
        }
        let s = counter.snapshot();
        assert_eq!(s.allocs, 2);
        assert_eq!(s.reallocs, 1);
        assert_eq!(s.deallocs, 2);
        assert_eq!(s.bytes_allocated, 400);
        assert_eq!(s.live_bytes, 0);
        assert_eq!(s.peak_live_bytes, 400);
    }

    #[test]
    fn since_subtracts_counts_and_keeps_current_levels() {
        let before = AllocSnapshot {
            allocs: 10,
            reallocs: 1,
            deallocs: 8,
            bytes_allocated: 1000,
            live_bytes: 200,
            peak_live_bytes: 500,
        };
        let after = AllocSnapshot {
            allocs: 15,
            reallocs: 3,
            deallocs: 14,
            bytes_allocated: 1500,
            live_bytes: 100,
            peak_live_bytes: 600,
        };
        let d = after.since(&before);
        assert_eq!(
            (d.allocs, d.reallocs, d.deallocs, d.bytes_allocated),
            (5, 2, 6, 500)
        );
        assert_eq!((d.live_bytes, d.peak_live_bytes), (100, 600));
        // A counter going backwards (it cannot, but) saturates instead of wrapping.
        assert_eq!(before.since(&after).allocs, 0);
    }
}
