//! The stock `celeriac` binary: the command line with the built-in demo tasks.

/// mimalloc instead of the system allocator: the engine allocates and frees small buffers
/// (records, keys, encoded values) at a high rate from several threads, where glibc's
/// allocator spent a fifth of a replay's time (`celeriac bench replay` under `perf`).
/// Built without transparent huge pages (`no_thp`): zeroing a fresh 2 MiB page on each
/// first touch cost ~9 % of `celeriac bench tasks` in the kernel.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    celeriac::cli::main_with(|app| app.register_demo_tasks())
}
