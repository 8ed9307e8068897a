//! The `hookshape` binary: parses the command line and hands over to `cli`.

/// Intake, rendering and dispatch allocate many small short-lived values per event;
/// mimalloc serves them faster than the system allocator (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hookshape::cli::main()
}
