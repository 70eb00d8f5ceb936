//! The `eddy` command-line interface.

fn main() {
    println!("eddy");
}
