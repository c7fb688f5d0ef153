//! The command line every server accepts, and one-line errors.

use std::fmt::Display;

use clap::Parser;

/// `--host`, `--port`, `--quiet`, `--backlog`: the flags every server in the workspace takes.
/// Chapters add their own with `#[command(flatten)]`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Host name or address to listen on (`localhost` means 127.0.0.1)
    #[arg(long, default_value = "localhost")]
    pub host: String,
    /// TCP port to listen on; 0 picks a free one (the startup line shows which)
    #[arg(long, default_value_t = 10000)]
    pub port: u16,
    /// Print only the startup line and errors, not every event
    #[arg(long)]
    pub quiet: bool,
    /// How many connected clients the kernel may hold until they are
    /// accepted (the listen backlog; Linux caps it at net.core.somaxconn)
    #[arg(long, default_value_t = crate::net::BACKLOG, value_parser = clap::value_parser!(i32).range(1..=65535))]
    pub backlog: i32,
}

/// Parses the command line. `--help` prints and exits 0; any mistake prints a
/// single `error:` line and exits 2, without clap's multi-line usage block.
pub fn parse_args<T: Parser>() -> T {
    match T::try_parse() {
        Ok(args) => args,
        Err(err) => match err.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                let _ = err.print();
                std::process::exit(0)
            }
            _ => {
                let text = err.to_string();
                let first = text.lines().next().unwrap_or("error: invalid arguments");
                eprintln_safe(format_args!("{first} (see --help)"));
                std::process::exit(2)
            }
        },
    }
}

/// Prints `error: {message}` on one line and exits with status 1.
pub fn exit_with_error(message: impl Display) -> ! {
    eprintln_safe(format_args!("error: {message}"));
    std::process::exit(1)
}

/// Like `eprintln!`, but a closed stderr is not a reason to panic.
pub(crate) fn eprintln_safe(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

/// Parses `--read-size BYTES`: a whole number of bytes, from 1 to
/// [`crate::queue::MAX_READ_SIZE`].
pub fn parse_read_size(text: &str) -> Result<usize, String> {
    let bytes: usize = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of bytes"))?;
    if (1..=crate::queue::MAX_READ_SIZE).contains(&bytes) {
        Ok(bytes)
    } else {
        Err(format!(
            "{bytes} is not between 1 and {} bytes",
            crate::queue::MAX_READ_SIZE
        ))
    }
}

#[cfg(test)]
mod read_size_tests {
    use super::parse_read_size;

    #[test]
    fn read_sizes_are_whole_bytes_within_bounds() {
        assert_eq!(parse_read_size("65536"), Ok(65536));
        assert_eq!(parse_read_size("1"), Ok(1));
        assert!(parse_read_size("0").is_err());
        assert!(parse_read_size("64k").unwrap_err().contains("not a number"));
        assert!(
            parse_read_size("16777217")
                .unwrap_err()
                .contains("between 1 and")
        );
    }
}
