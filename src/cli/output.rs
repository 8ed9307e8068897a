//! Standard output for the commands: a reader that went away (`hookshape render … | head
//! -1`) ends the command quietly with the status a shell gives a process that SIGPIPE
//! ended (141), as Unix tools do, where `println!` would panic; any other write error is
//! said on stderr (exit 2).

use std::io::Write;

/// Writes `args` to standard output, or ends the process as above.
pub fn write(args: std::fmt::Arguments) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("error: could not write to standard output: {e}");
        std::process::exit(2);
    }
}

/// `print!` through `write`.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::write(format_args!($($arg)*)) };
}

/// `println!` through `write`.
macro_rules! outln {
    () => { $crate::cli::output::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::write(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {out, outln};
