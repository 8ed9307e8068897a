//! The `hookshape` binary: parses the command line and hands over to `cli`.

// glibc's malloc was ~14% of the server's CPU under load (perf), most of it in
// consolidating and unlinking free chunks across the tokio workers' threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hookshape::cli::main()
}
