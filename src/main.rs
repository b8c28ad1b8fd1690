use clap::Parser;

fn main() -> std::process::ExitCode {
    harborize::vcs::git::cache_large_trees();
    harborize::main_with(harborize::cli::Cli::parse())
}
