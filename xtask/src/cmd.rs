//! Running other programs: every command xtask starts goes through here, so
//! each is echoed to the log the same way and fails with the same error.

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Command, ExitStatus, Stdio};

/// Why an xtask command failed.
#[derive(Debug)]
pub enum Error {
    /// The program could not be started (not installed, not executable).
    Spawn { command: String, source: io::Error },
    /// The program ran and exited unsuccessfully.
    Status { command: String, status: ExitStatus },
    /// `cargo xtask ci` was asked for a stage that does not exist.
    UnknownStage(String),
    /// `cargo xtask bench` was asked for an area that does not exist.
    UnknownArea(String),
    /// A CI stage failed; the stage's own error was printed when it happened.
    Stage { stage: &'static str },
    /// Building or reading a footprint image failed.
    Footprint(crate::footprint::Error),
    /// A bench ran but its output could not be turned into figures.
    Bench(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spawn { command, source } => write!(f, "could not start `{command}`: {source}"),
            Error::Status { command, status } => write!(f, "`{command}` failed ({status})"),
            Error::UnknownStage(message) | Error::UnknownArea(message) => write!(f, "{message}"),
            Error::Stage { stage } => write!(f, "CI failed at stage {stage}"),
            Error::Footprint(error) => write!(f, "footprint: {error}"),
            Error::Bench(message) => write!(f, "bench: {message}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::footprint::Error> for Error {
    fn from(error: crate::footprint::Error) -> Self {
        Error::Footprint(error)
    }
}

/// A `cargo` command: the cargo that runs xtask (cargo sets `CARGO` for the
/// programs it runs), else the one on `PATH`.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The command as a shell line, for logs and errors.
pub fn display(command: &Command) -> String {
    let program = shell_word(command.get_program());
    command
        .get_args()
        .fold(program, |line, arg| line + " " + &shell_word(arg))
}

/// One word of a shell line, single-quoted when it holds anything a shell
/// would split or expand.
fn shell_word(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Runs a command with its output streaming to ours, after echoing it. CI
/// has no standard input, and no command here should wait for one.
pub fn run(command: &mut Command) -> Result<(), Error> {
    let line = display(command);
    println!("$ {line}");
    let status = command
        .stdin(Stdio::null())
        .status()
        .map_err(|source| Error::Spawn {
            command: line.clone(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Status {
            command: line,
            status,
        })
    }
}

/// Like [`run`], but passes each line of the command's standard output to
/// `on_line` as it echoes it, so CI can read figures (test counts) from a
/// stream that still reaches the log as it happens. Standard error is not
/// touched.
pub fn run_reading_lines(
    command: &mut Command,
    mut on_line: impl FnMut(&str),
) -> Result<(), Error> {
    let line = display(command);
    println!("$ {line}");
    let spawn_error = |source| Error::Spawn {
        command: line.clone(),
        source,
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    if let Some(stdout) = child.stdout.take() {
        let mut reader = BufReader::new(stdout);
        let mut out = io::stdout();
        let mut buffer = Vec::new();
        // A broken pipe on our side must not leave the child blocked on a
        // full pipe: stop echoing, keep draining.
        let mut echo = true;
        while reader.read_until(b'\n', &mut buffer).unwrap_or(0) > 0 {
            echo = echo && out.write_all(&buffer).and_then(|()| out.flush()).is_ok();
            on_line(String::from_utf8_lossy(&buffer).trim_end());
            buffer.clear();
        }
    }
    let status = child.wait().map_err(spawn_error)?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Status {
            command: line,
            status,
        })
    }
}

/// Runs a command quietly and returns its standard output, or `None` if it
/// could not start or failed: for queries whose failure means "no".
pub fn query(command: &mut Command) -> Option<String> {
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_only_words_a_shell_would_split() {
        let mut command = Command::new("dpkg-query");
        command.args(["-W", "-f=${Status}", "it's", "a b", ""]);
        assert_eq!(
            display(&command),
            r"dpkg-query -W '-f=${Status}' 'it'\''s' 'a b' ''"
        );
    }

    #[test]
    fn run_reports_the_failing_command_and_query_says_none() {
        let error = run(Command::new("false").arg("x")).unwrap_err();
        assert!(matches!(&error, Error::Status { command, .. } if command == "false x"));
        assert!(matches!(
            run(&mut Command::new("/nonexistent/xtask")),
            Err(Error::Spawn { .. })
        ));
        assert_eq!(
            query(Command::new("echo").arg("hi")).as_deref(),
            Some("hi\n")
        );
        assert_eq!(query(&mut Command::new("false")), None);
    }

    #[test]
    fn run_reading_lines_sees_every_line_including_an_unterminated_last() {
        let mut lines = Vec::new();
        let mut command = Command::new("printf");
        command.arg("one\\ntwo\\n\\nlast");
        run_reading_lines(&mut command, |line| lines.push(line.to_string())).unwrap();
        assert_eq!(lines, ["one", "two", "", "last"]);
        let mut command = Command::new("sh");
        command.args(["-c", "echo partial; exit 3"]);
        let error = run_reading_lines(&mut command, |_| {}).unwrap_err();
        assert!(matches!(error, Error::Status { status, .. } if status.code() == Some(3)));
    }
}
