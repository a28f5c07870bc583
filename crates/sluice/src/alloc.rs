//! The global allocator: the system allocator, except that very large allocations are made as
//! `MAP_NORESERVE` anonymous mappings.
//!
//! Why: `kafka-protocol` sizes a decoded array with `Vec::with_capacity(n)` where `n` comes from
//! the wire, before it knows whether `n` elements can possibly follow. A 13-byte request claiming
//! 2^31 topics asks for ~150 GB; under Linux's default (heuristic) overcommit that allocation
//! fails and Rust aborts the process. With `MAP_NORESERVE` the kernel only reserves address space,
//! no page is ever touched, the decoder fails on the missing bytes a moment later, and the
//! mapping is released. Legitimate allocations this large do not occur in Sluice (requests are
//! bounded by `socket.request.max.bytes`), so nothing else changes. No crate offers this.

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations at least this large bypass the system allocator.
const HUGE: usize = 1 << 30;

pub struct Allocator;

#[cfg(unix)]
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() < HUGE || layout.align() > 4096 {
            return unsafe { System.alloc(layout) };
        }
        // SAFETY: an anonymous private mapping; page alignment satisfies `layout.align() <= 4096`.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            p as *mut u8
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.size() < HUGE || layout.align() > 4096 {
            return unsafe { System.dealloc(ptr, layout) };
        }
        // SAFETY: `ptr` came from the mmap above with this same size.
        unsafe {
            libc::munmap(ptr as *mut libc::c_void, layout.size());
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old_huge = layout.size() >= HUGE && layout.align() <= 4096;
        let new_huge = new_size >= HUGE && layout.align() <= 4096;
        if !old_huge && !new_huge {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // Crossing the threshold: allocate, copy, free (rare by construction).
        // SAFETY: the new layout is valid because the caller guarantees `new_size` is.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both regions are valid for the smaller of the two sizes and do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(not(unix))]
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}
