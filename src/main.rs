use clap::Parser;

// mimalloc: `check` spent ~14% of its CPU in glibc's malloc and free, and the released
// Linux binaries link musl's slower allocator (README, "Dependencies and why").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc v3's `mi_option_purge_delay` (its include/mimalloc.h; the binding's named
/// constants are v2's numbering).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // Freed memory goes back to the system after 10 ms instead of a second: a plan frees
    // each file's tree as it goes, and with the default delay the peak RSS of `check` on
    // 50,000 files reached 68 MB, above its 64 MiB target (0 ms holds no less, but its madvise calls
    // slowed a one-file run). Debug builds (the tests) check that the number still names
    // the purge delay (its default is 1000 ms).
    // SAFETY: both calls only read or write mimalloc's table of option values.
    unsafe {
        debug_assert_eq!(libmimalloc_sys::mi_option_get(PURGE_DELAY), 1000);
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 10);
    }
    harborize::main_with(harborize::cli::Cli::parse())
}
