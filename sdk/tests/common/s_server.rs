//! `openssl s_server` for the TLS tests: started on a fresh port below the
//! ephemeral range, connected only once it printed ACCEPT, killed on drop.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

#[path = "server_port.rs"]
mod server_port;
use server_port::server_port;

/// Where the test PKI lives.
pub const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/test/");

/// `openssl s_server`, killed on drop: in `-rev` mode (each line comes
/// back reversed), or interactive (lines written to its standard input go
/// to the client, or are commands such as `K`, a KeyUpdate; what the client
/// sends comes out on its standard output).
pub struct Server {
    child: Child,
    pub port: u16,
    /// Kept open so s_server never writes into a closed pipe; read by
    /// interactive tests.
    stdout: BufReader<ChildStdout>,
    stdin: Option<ChildStdin>,
}

impl Server {
    pub fn start(cert: &str, chain: &str, extra: &[&str]) -> Server {
        Server::launch(cert, chain, extra, true)
    }

    /// An interactive server (no `-rev`), for [`Server::input`] and
    /// [`Server::output_line`].
    #[allow(dead_code)] // Not every test binary drives one.
    pub fn start_interactive(cert: &str, chain: &str, extra: &[&str]) -> Server {
        Server::launch(cert, chain, extra, false)
    }

    /// Writes `line` to s_server's standard input.
    #[allow(dead_code)]
    pub fn input(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("an interactive server");
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// The next line s_server prints.
    #[allow(dead_code)]
    pub fn output_line(&mut self) -> String {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).unwrap();
        assert!(n > 0, "s_server ended");
        line
    }

    fn launch(cert: &str, chain: &str, extra: &[&str], rev: bool) -> Server {
        let port = server_port();
        // TLS 1.3 only unless the test names a version itself.
        let named = extra.contains(&"-tls1_2") || extra.contains(&"-tls1_3");
        let default_version = (!named).then_some("-tls1_3");
        let mut child = Command::new("openssl")
            .arg("s_server")
            .args(
                (!extra.contains(&"-naccept"))
                    .then_some(["-naccept", "1"])
                    .into_iter()
                    .flatten(),
            )
            .args(rev.then_some("-rev"))
            .args(default_version)
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .args(["-cert", &format!("{CERTS}{cert}.pem")])
            .args(["-key", &format!("{CERTS}{cert}.key")])
            .args(["-cert_chain", &format!("{CERTS}{chain}.pem")])
            .args(extra)
            .stdin(if rev { Stdio::null() } else { Stdio::piped() })
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl is installed");
        // s_server prints ACCEPT once it is listening with its key loaded;
        // connecting earlier races its start-up.
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while line.trim() != "ACCEPT" {
            line.clear();
            let n = stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "openssl s_server exited before listening");
        }
        let stdin = child.stdin.take();
        Server {
            child,
            port,
            stdout,
            stdin,
        }
    }

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("s_server is listening");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
