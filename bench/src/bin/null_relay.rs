//! `null-relay`: the practical ceiling for a Yjs sync server on this machine.
//!
//! It runs the same WebSocket stack as Quire (tokio, tokio-tungstenite, TCP_NODELAY, mimalloc)
//! and does everything a sync server does on the wire, minus the CRDT: rooms by URL path, every
//! binary frame from a client forwarded to every other client of its room (encoded once, one
//! shared `Bytes` per frame), and a SyncStep1 answered with an empty document's SyncStep2 so
//! clients see "synced". It keeps no document, so a late joiner gets nothing, and it is not a
//! server anyone should deploy. `bench/compare.sh` runs it beside Quire and the peers: Quire /
//! null relay is how close Quire gets to the cost of moving the bytes alone.
//!
//! Layout: [`framing`] decides what a frame means (y-websocket, or Hocuspocus framing with
//! `--protocol hocuspocus`); [`rooms`] holds the rooms and fans frames out; this file accepts
//! connections and runs one task per connection (a reader and a writer joined).
//!
//! Buffers are deliberately 4 KiB for reads and writes: small enough that 19,000 idle
//! connections cost little, large enough to batch the small frames of a busy room.

#[path = "null_relay/framing.rs"]
mod framing;
#[path = "null_relay/rooms.rs"]
mod rooms;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use framing::{Action, Protocol};
use rooms::{Member, Room, Rooms};

/// Same allocator as the `quire` binary, so the two differ only in what they do with a frame.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// WebSocket read and write buffer sizes, per connection.
const BUFFER_BYTES: usize = 4 * 1024;
/// Close code for a client whose queue overflowed (the same code Quire uses).
const SLOW_CONSUMER: u16 = 4000;

/// Relays Yjs WebSocket frames between the clients of a room without any CRDT work.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port (printed on the ready line).
    #[arg(long, default_value = "127.0.0.1:4000")]
    listen: SocketAddr,
    /// Wire protocol of the clients.
    #[arg(long, value_enum, default_value_t = Protocol::YWebsocket)]
    protocol: Protocol,
    /// Frames queued per connection before the relay disconnects it as too slow (Quire's
    /// default `--client-queue-frames`).
    #[arg(long, default_value_t = 1024)]
    client_queue_frames: usize,
}

/// What every connection task shares.
struct Relay {
    rooms: Rooms,
    protocol: Protocol,
    client_queue_frames: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let listener = TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("listening on {}", cli.listen))?;
    let address = listener.local_addr()?;
    let relay = Arc::new(Relay {
        rooms: Rooms::default(),
        protocol: cli.protocol,
        client_queue_frames: cli.client_queue_frames.max(1),
    });
    // The ready line: scripts and tests wait for it and read the port from it.
    println!(
        "null-relay listening on ws://{address} ({:?})",
        cli.protocol
    );
    tokio::select! {
        () = accept_connections(listener, relay) => Ok(()),
        () = stop_signal() => {
            info!("stopping");
            Ok(())
        }
    }
}

async fn accept_connections(listener: TcpListener, relay: Arc<Relay>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let relay = relay.clone();
                tokio::spawn(async move {
                    if let Err(error) = serve_connection(&relay, stream).await {
                        debug!(%peer, "connection ended: {error:#}");
                    }
                });
            }
            // Out of file descriptors and the like: keep serving the connections we have.
            Err(error) => {
                warn!("accept failed: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM (how compare.sh stops servers).
async fn stop_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async {
            match terminate.as_mut() {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending().await,
            }
        } => {}
    }
}

async fn serve_connection(relay: &Relay, stream: TcpStream) -> anyhow::Result<()> {
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    let config = WebSocketConfig::default()
        .read_buffer_size(BUFFER_BYTES)
        .write_buffer_size(BUFFER_BYTES);
    let mut path = String::new();
    // The callback's error type (an HTTP response) is tungstenite's, not ours to shrink.
    #[allow(clippy::result_large_err)]
    let socket = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        |request: &Request, response: Response| {
            path = request.uri().path().to_owned();
            Ok(response)
        },
        Some(config),
    )
    .await
    .context("WebSocket handshake")?;
    let (sink, stream) = socket.split();
    let (frames, queue) = mpsc::channel(relay.client_queue_frames);
    let member = Member {
        id: relay.rooms.next_member_id(),
        frames,
        too_slow: CancellationToken::new(),
    };
    let writer = write_frames(sink, queue, member.too_slow.clone());
    let reader = async {
        let mut session = Session {
            relay,
            member,
            joined: HashMap::new(),
        };
        if relay.protocol == Protocol::YWebsocket {
            // As y-websocket does: the room is the path without its leading slash.
            session.join(path.strip_prefix('/').unwrap_or(&path));
        }
        let result = session.read_frames(stream).await;
        session.leave_all();
        result
    };
    let (read_result, ()) = tokio::join!(reader, writer);
    read_result
}

/// One connection's membership: the rooms it joined (one for y-websocket).
struct Session<'a> {
    relay: &'a Relay,
    member: Member,
    joined: HashMap<String, Arc<Room>>,
}

impl Session<'_> {
    async fn read_frames(
        &mut self,
        mut stream: SplitStream<WebSocketStream<TcpStream>>,
    ) -> anyhow::Result<()> {
        let too_slow = self.member.too_slow.clone();
        loop {
            let message = tokio::select! {
                () = too_slow.cancelled() => return Ok(()),
                message = stream.next() => message,
            };
            match message {
                Some(Ok(Message::Binary(frame))) => self.handle_frame(frame),
                Some(Ok(Message::Close(_))) | None => return Ok(()),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error).context("reading"),
            }
        }
    }

    fn handle_frame(&mut self, frame: Bytes) {
        match framing::classify(self.relay.protocol, &frame) {
            Action::Answer(answer) => self.member.deliver(answer),
            Action::Forward {
                room,
                acknowledgement,
            } => {
                let room = match room {
                    Some(name) => self.joined.get(&name),
                    None => self.joined.values().next(),
                };
                // Hocuspocus frames for a document this socket has not authenticated are dropped.
                if let Some(room) = room {
                    room.forward(self.member.id, &frame);
                    if let Some(acknowledgement) = acknowledgement {
                        self.member.deliver(acknowledgement);
                    }
                }
            }
            Action::Join { room, answer } => {
                self.join(&room);
                self.member.deliver(answer);
            }
            Action::Leave { room } => {
                if self.joined.remove(&room).is_some() {
                    self.relay.rooms.leave(&room, self.member.id);
                }
            }
            Action::Ignore => {}
        }
    }

    fn join(&mut self, name: &str) {
        if !self.joined.contains_key(name) {
            let room = self.relay.rooms.join(name, self.member.clone());
            self.joined.insert(name.to_owned(), room);
        }
    }

    fn leave_all(&mut self) {
        for (name, _) in self.joined.drain() {
            self.relay.rooms.leave(&name, self.member.id);
        }
    }
}

/// Writes queued frames, batching whatever is queued into one flush; closes the socket when
/// the queue ends (the reader left every room) or with 4000 when the member fell behind.
async fn write_frames(
    mut sink: SplitSink<WebSocketStream<TcpStream>, Message>,
    mut queue: mpsc::Receiver<Bytes>,
    too_slow: CancellationToken,
) {
    loop {
        let frame = tokio::select! {
            biased;
            () = too_slow.cancelled() => {
                let close = CloseFrame {
                    code: CloseCode::from(SLOW_CONSUMER),
                    reason: "too far behind: reconnect to resync".into(),
                };
                let _ = sink.send(Message::Close(Some(close))).await;
                return;
            }
            frame = queue.recv() => frame,
        };
        let Some(frame) = frame else {
            let _ = sink.close().await;
            return;
        };
        if sink.feed(Message::Binary(frame)).await.is_err() {
            return;
        }
        while let Ok(frame) = queue.try_recv() {
            if sink.feed(Message::Binary(frame)).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}
