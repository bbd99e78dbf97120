fn main() {
    std::process::exit(ipdpp::cli::main());
}
