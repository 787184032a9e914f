//! A real mosquitto for tests: its own directory, a free port on 127.0.0.1
//! and a generated configuration; killed and cleaned up on drop.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[path = "server_port.rs"]
pub mod server_port;
use server_port::server_port;

/// A mosquitto process with its own directory and port.
pub struct Broker {
    child: Child,
    pub port: u16,
    dir: PathBuf,
    /// How it was started, to start it again.
    command: Command,
}

impl Broker {
    /// One listener with `listener_options` (mosquitto.conf lines, e.g. TLS
    /// certificates; empty for plain TCP).
    #[allow(dead_code)] // Each test binary uses one of the two.
    pub fn start(listener_options: &str) -> Broker {
        Broker::start_with_max_tls(listener_options, None)
    }

    /// As [`Broker::start`], with OpenSSL's highest protocol version capped
    /// (`"TLSv1.2"`): mosquitto's own `tls_version` only sets the lowest, so
    /// a TLS 1.2-only listener needs OpenSSL's configuration.
    #[allow(dead_code)] // Each test binary uses one of the two.
    pub fn start_with_max_tls(listener_options: &str, max_protocol: Option<&str>) -> Broker {
        Broker::start_on(server_port(), listener_options, max_protocol)
    }

    /// As [`Broker::start_with_max_tls`] on a port the caller chose (from
    /// `server_port`), for a client that was trying it before the broker
    /// came up.
    #[allow(dead_code)]
    pub fn start_on(port: u16, listener_options: &str, max_protocol: Option<&str>) -> Broker {
        Broker::launch(port, listener_options, max_protocol, false)
    }

    /// A plain listener whose broker keeps sessions and queued messages on
    /// disk across [`Broker::restart`].
    #[allow(dead_code)]
    pub fn start_persistent() -> Broker {
        Broker::launch(server_port(), "", None, true)
    }

    fn launch(
        port: u16,
        listener_options: &str,
        max_protocol: Option<&str>,
        persistent: bool,
    ) -> Broker {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "duet-mqtt-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create broker directory");
        let conf = dir.join("mosquitto.conf");
        // Saved only on a clean shutdown (SIGTERM), so a restart resumes
        // exactly the state the broker stopped with.
        let persistence = if persistent {
            format!(
                "persistence true\npersistence_location {}/\nautosave_interval 0\n",
                dir.display()
            )
        } else {
            "persistence false\n".to_owned()
        };
        // mosquitto started as root drops to user `mosquitto`; `user root`
        // keeps it able to write its log in our directory.
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\n{listener_options}allow_anonymous true\n\
                 {persistence}user root\nlog_dest file {}\nlog_type all\n",
                dir.join("mosquitto.log").display()
            ),
        )
        .unwrap();
        let mut command = Command::new("mosquitto");
        command.arg("-c").arg(&conf);
        if let Some(max_protocol) = max_protocol {
            let openssl_conf = dir.join("openssl.cnf");
            std::fs::write(
                &openssl_conf,
                format!(
                    "openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\n\
                     system_default = defaults\n[defaults]\nMaxProtocol = {max_protocol}\n"
                ),
            )
            .unwrap();
            command.env("OPENSSL_CONF", openssl_conf);
        }
        let child = spawn_listening(&mut command, port, &dir);
        Broker {
            child,
            port,
            dir,
            command,
        }
    }

    /// Stops the broker cleanly (SIGTERM: a persistent one saves its state)
    /// and starts it again on the same port.
    #[allow(dead_code)]
    pub fn restart(&mut self) {
        let stopped = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill is installed");
        assert!(stopped.success(), "SIGTERM to mosquitto");
        let _ = self.child.wait();
        self.child = spawn_listening(&mut self.command, self.port, &self.dir);
    }
}

impl Broker {
    /// Sends the broker `signal` (`"STOP"`: it stops answering while its
    /// connections stay open, as a hung server does; `"CONT"`: it goes on).
    #[allow(dead_code)]
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill is installed");
        assert!(sent.success(), "SIG{signal} to mosquitto");
    }
}

/// Spawns `command` and waits until it accepts connections on `port`.
fn spawn_listening(command: &mut Command, port: u16, dir: &Path) -> Child {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto is installed (apt-get install mosquitto)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.join("mosquitto.log"));
            panic!("mosquitto exited ({status}): {}", log.unwrap_or_default());
        }
        assert!(
            Instant::now() < deadline,
            "mosquitto did not start listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
