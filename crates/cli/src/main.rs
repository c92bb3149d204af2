// The gateway proxies many small requests: mimalloc spends far fewer instructions per
// allocation than the system allocator (measured with crates/gateway/bench/instructions.sh).
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
