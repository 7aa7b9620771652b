//! End-to-end tests of the `null-relay` binary over real sockets.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The relay process, killed when the test ends.
struct RunningRelay {
    child: Child,
    url: String,
}

impl RunningRelay {
    fn start(extra_args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_null-relay"))
            .args(["--listen", "127.0.0.1:0"])
            .args(extra_args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start null-relay");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready line");
        let url = line
            .split_whitespace()
            .find(|word| word.starts_with("ws://"))
            .unwrap_or_else(|| panic!("no URL in ready line {line:?}"))
            .to_owned();
        Self { child, url }
    }

    async fn connect(&self, path: &str) -> Socket {
        let (socket, _) = tokio_tungstenite::connect_async(format!("{}{path}", self.url))
            .await
            .expect("connect");
        socket
    }
}

impl Drop for RunningRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn next_binary(socket: &mut Socket) -> Vec<u8> {
    let wait = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Binary(frame))) => return frame.to_vec(),
                Some(Ok(_)) => {}
                other => panic!("connection ended: {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("a frame within 10 s")
}

async fn send(socket: &mut Socket, frame: &[u8]) {
    socket
        .send(Message::Binary(frame.to_vec().into()))
        .await
        .expect("send");
}

/// A SyncStep1 gets an empty document back, and a frame reaches the other client of its room
/// byte for byte, and no client of another room.
#[tokio::test]
async fn relays_frames_within_a_room_and_answers_sync_step_1() {
    let relay = RunningRelay::start(&[]);
    let mut alice = relay.connect("/room-a").await;
    let mut bob = relay.connect("/room-a").await;
    let mut carol = relay.connect("/room-b").await;
    let mut dave = relay.connect("/room-b").await;

    send(&mut alice, &[0, 0, 1, 0]).await;
    assert_eq!(next_binary(&mut alice).await, [0, 1, 2, 0, 0]);

    // Bob's SyncStep1 is answered like Alice's, which also shows he has joined before Alice's update.
    send(&mut bob, &[0, 0, 1, 0]).await;
    assert_eq!(next_binary(&mut bob).await, [0, 1, 2, 0, 0]);
    // The same for Carol and Dave in room-b.
    for socket in [&mut carol, &mut dave] {
        send(socket, &[0, 0, 1, 0]).await;
        assert_eq!(next_binary(socket).await, [0, 1, 2, 0, 0]);
    }

    let update = [0, 2, 5, 1, 2, 3, 4, 5];
    send(&mut alice, &update).await;
    assert_eq!(next_binary(&mut bob).await, update);

    // Carol's first relayed frame is Dave's, not Alice's: rooms are separate.
    let awareness = [1, 3, 9, 9, 9];
    send(&mut dave, &awareness).await;
    assert_eq!(next_binary(&mut carol).await, awareness);
}

/// With Hocuspocus framing, Auth is accepted, and an update reaches the other socket of the
/// document and is acknowledged to its sender.
#[tokio::test]
async fn relays_hocuspocus_frames_between_authenticated_sockets() {
    let relay = RunningRelay::start(&["--protocol", "hocuspocus"]);
    let mut alice = relay.connect("/").await;
    let mut bob = relay.connect("/").await;
    // [document "doc"][Auth][Token]["t"]
    let auth = [3, b'd', b'o', b'c', 2, 0, 1, b't'];
    let authenticated = b"\x03doc\x02\x02\x0aread-write";
    for socket in [&mut alice, &mut bob] {
        send(socket, &auth).await;
        assert_eq!(next_binary(socket).await, authenticated);
    }

    let update = [3, b'd', b'o', b'c', 0, 2, 3, 7, 7, 7];
    send(&mut alice, &update).await;
    assert_eq!(next_binary(&mut bob).await, update);
    assert_eq!(next_binary(&mut alice).await, [3, b'd', b'o', b'c', 8, 1]);
}
