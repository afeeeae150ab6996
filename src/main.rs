//! The `millrace` binary: see [`millrace::cli`].

fn main() {
    std::process::exit(millrace::cli::main());
}
