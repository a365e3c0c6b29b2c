//! The `lapse` binary: everything lives in the library; see `lapse::cli`.

fn main() -> std::process::ExitCode {
    lapse::cli::main()
}
