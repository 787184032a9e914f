//! MQTT over Duet's TLS: our TLS 1.3 client (`TlsConnection` over a TCP
//! stream) to mosquitto's TLS 1.3 listener, with the test PKI; the MQTT
//! packets are Duet's codec.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use duet::crypto::soft::Soft;
use duet::crypto::x509::trust_anchor_from_der;
use duet::mqtt::codec::{Connect, Properties};
use duet::mqtt::{Packet, ProtocolVersion};
use duet::tls::{Buffers, ClientConfig, ClientConnection, TlsConnection};
use embedded_io_async::{Read as _, Write as _};

#[path = "common/blocking_stream.rs"]
mod blocking_stream;
use blocking_stream::BlockingStream;

const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/test/");

#[path = "common/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// mosquitto with one TLS 1.3 listener, its own directory and port.
struct Broker {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Broker {
    fn start() -> Broker {
        let dir = std::env::temp_dir().join(format!("duet-mqtt-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n\
                 cafile {CERTS}root-ca.pem\ncertfile {CERTS}server-p256.chain.pem\n\
                 keyfile {CERTS}server-p256.key\ntls_version tlsv1.3\n\
                 log_dest file {}\n",
                dir.join("mosquitto.log").display()
            ),
        )
        .unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed (apt-get install mosquitto)");
        let broker = Broker { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
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

#[test]
fn mqtt_connect_connack_and_ping_over_our_tls_1_3() {
    let broker = Broker::start();
    let stream = BlockingStream(TcpStream::connect(("127.0.0.1", broker.port)).unwrap());
    let soft: Soft = Soft::new();
    let root = std::fs::read(format!("{CERTS}root-ca.der")).unwrap();
    let anchors = [trust_anchor_from_der(&root).unwrap()];
    let (mut receive, mut send) = (vec![0u8; 17 * 1024], vec![0u8; 17 * 1024]);
    let (mut handshake, mut certificate) = (vec![0u8; 8 * 1024], vec![0u8; 8 * 1024]);
    let mut rng = TestRng(now(), 11);
    let engine = ClientConnection::new(
        &soft,
        ClientConfig {
            server_name: "broker.iot.test",
            trust_anchors: &anchors,
            now_unix_secs: now(),
            alpn_protocols: &[],
        },
        Buffers {
            receive: &mut receive,
            send: &mut send,
            handshake: &mut handshake,
            certificate: &mut certificate,
        },
        &mut rng,
    )
    .unwrap();
    embassy_futures::block_on(async {
        let mut tls = TlsConnection::connect(engine, stream)
            .await
            .expect("TLS handshake with mosquitto");
        let version = ProtocolVersion::V311;
        let connect = Connect {
            version,
            clean_start: true,
            keep_alive: 30,
            properties: Properties::EMPTY,
            client_id: "duet-over-tls",
            will: None,
            username: None,
            password: None,
        };
        let mut out = [0u8; 128];
        let n = Packet::Connect(connect).encode(version, &mut out).unwrap();
        tls.write_all(&out[..n]).await.unwrap();
        tls.flush().await.unwrap();
        let mut buf = [0u8; 64];
        let mut got = 0;
        let ack = loop {
            got += tls.read(&mut buf[got..]).await.unwrap();
            match Packet::decode(&buf[..got], version) {
                Ok((Packet::ConnAck(ack), _)) => break ack,
                Ok((other, _)) => panic!("expected CONNACK, got {other:?}"),
                Err(_) => assert!(got < buf.len(), "no CONNACK in {got} bytes"),
            }
        };
        assert!(!ack.session_present);
        assert_eq!(ack.reason_code, 0, "connection accepted");
        // A round trip on the open session: PINGREQ, PINGRESP.
        let n = Packet::PingReq.encode(version, &mut out).unwrap();
        tls.write_all(&out[..n]).await.unwrap();
        let n = tls.read(&mut buf).await.unwrap();
        assert!(matches!(
            Packet::decode(&buf[..n], version),
            Ok((Packet::PingResp, 2))
        ));
        tls.close().await.unwrap();
    });
}
