//! chronyd for tests: started in the foreground with `-x` (it never
//! touches the system clock), serving its local clock at stratum 8 from a
//! configuration of its own; killed on drop.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// A chronyd serving its local clock, killed on drop.
pub struct Chronyd {
    child: Child,
    dir: PathBuf,
    pub address: SocketAddr,
}

impl Chronyd {
    /// Starts `chronyd -d -x` (foreground, never touching the system clock)
    /// on 127.0.0.1 on a free port.
    #[allow(dead_code)] // Each test binary uses one of the two.
    pub fn start() -> Chronyd {
        Chronyd::start_on(Ipv4Addr::LOCALHOST, free_udp_port())
    }

    /// Starts chronyd on `bind:port`, answering anyone, with a
    /// configuration of its own in a fresh directory.
    pub fn start_on(bind: Ipv4Addr, port: u16) -> Chronyd {
        let dir = fresh_temp_dir("chrony");
        let config = format!(
            "port {port}\n\
             bindaddress {bind}\n\
             allow all\n\
             local stratum 8\n\
             cmdport 0\n\
             driftfile {dir}/drift\n\
             pidfile {dir}/chronyd.pid\n",
            dir = dir.display()
        );
        let config_path = dir.join("chrony.conf");
        std::fs::write(&config_path, config).expect("write chrony.conf");
        let log = std::fs::File::create(dir.join("chronyd.log")).expect("create chronyd.log");
        let binary = ["/usr/sbin/chronyd", "/usr/bin/chronyd", "chronyd"]
            .into_iter()
            .find(|path| !path.starts_with('/') || std::path::Path::new(path).exists())
            .unwrap_or("chronyd");
        // `-u root`: as root chronyd would otherwise switch to `_chrony`,
        // which cannot write into our directory. `-U`: run even if not root.
        let child = Command::new(binary)
            .args(["-d", "-x", "-U", "-u", "root", "-f"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| {
                panic!("chronyd is required for this test and could not be started: {error}")
            });
        Chronyd {
            child,
            dir,
            address: SocketAddr::from((bind, port)),
        }
    }

    /// Fails the test if chronyd has exited, showing its log.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let log = std::fs::read_to_string(self.dir.join("chronyd.log")).unwrap_or_default();
            panic!("chronyd exited ({status}):\n{log}");
        }
    }
}

impl Drop for Chronyd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fresh_temp_dir(what: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("duet-sntp-{what}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A UDP port nobody uses right now: the kernel's pick for port 0.
fn free_udp_port() -> u16 {
    let probe = UdpSocket::bind("127.0.0.1:0").expect("bind probe socket");
    probe.local_addr().expect("probe address").port()
}
