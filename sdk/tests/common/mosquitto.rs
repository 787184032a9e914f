//! A real mosquitto for tests: its own directory, a free port on 127.0.0.1
//! and a generated configuration; killed and cleaned up on drop.

use std::net::TcpStream;
use std::path::PathBuf;
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
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "duet-mqtt-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create broker directory");
        let conf = dir.join("mosquitto.conf");
        // mosquitto started as root drops to user `mosquitto`; `user root`
        // keeps it able to write its log in our directory.
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\n{listener_options}allow_anonymous true\n\
                 persistence false\nuser root\nlog_dest file {}\nlog_type all\n",
                dir.join("mosquitto.log").display()
            ),
        )
        .unwrap();
        let mut command = Command::new("mosquitto");
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
        let child = command
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed (apt-get install mosquitto)");
        let mut broker = Broker { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = broker.child.try_wait() {
                let log = std::fs::read_to_string(broker.dir.join("mosquitto.log"));
                panic!("mosquitto exited ({status}): {}", log.unwrap_or_default());
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        broker
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
