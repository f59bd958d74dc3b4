//! The stock `celeriac` binary: the command line with the built-in demo tasks.

fn main() -> std::process::ExitCode {
    celeriac::cli::main_with(|app| app.register_demo_tasks())
}
