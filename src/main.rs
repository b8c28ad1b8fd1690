use clap::Parser;

fn main() -> std::process::ExitCode {
    harborize::main_with(harborize::cli::Cli::parse())
}

// Parsing allocates many small strings and vectors; mimalloc handles that churn
// measurably faster than the system allocator (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
