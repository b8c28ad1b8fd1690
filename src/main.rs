use clap::Parser;

fn main() -> std::process::ExitCode {
    harborize::main_with(harborize::cli::Cli::parse())
}
