//! `cargo run -p multiclient`: see the library's documentation.
#![forbid(unsafe_code)]

use echo_common::{exit_with_error, parse_args};
use multiclient::{Args, run};

fn main() {
    let args: Args = parse_args();
    if let Err(e) = run(&args, &mut std::io::stderr()) {
        exit_with_error(e);
    }
}
