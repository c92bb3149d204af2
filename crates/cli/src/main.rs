// The gateway proxies many small requests: mimalloc spends far fewer instructions per
// allocation than the system allocator (measured with crates/gateway/bench/instructions.sh).
// On Linux with glibc it replaces `malloc` and `free` themselves (libmimalloc-sys's
// `override`; glibc supports a replaced `malloc`), so Rust's default allocator (`System`,
// which calls `malloc` for every layout Rust's collections use) reaches mimalloc's plain
// entry points: `mimalloc::MiMalloc` calls its aligned ones, about 600 more instructions a
// proxied request. Nothing here calls mimalloc by name, so the linker is made to keep it by
// this reference (without it the binary would use glibc's). Elsewhere, where a static
// library does not replace `malloc`, mimalloc is Rust's global allocator.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
static KEEP_MIMALLOC: unsafe extern "C" fn(usize) -> *mut core::ffi::c_void =
    libmimalloc_sys::mi_malloc;

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = switchyard::run(
        std::env::args(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    std::process::exit(code);
}
