//! A Yjs client over a real WebSocket: crdt-core's `SyncClient` wired to tokio-tungstenite.

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use crdt_core::SyncClient;
use crdt_core::wire::{decode_frame, encode_frame};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use yrs::block::ClientID;
use yrs::sync::{Message as SyncProtocolMessage, SyncMessage};
use yrs::{Doc, GetString, Map, ReadTxn, Text, Transact};

use crate::transport::TestStream;
use crate::{MAP, TEXT, WAIT_LIMIT};

/// The close frame a client received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseNotice {
    /// The close code (1005 when the frame carried none).
    pub code: u16,
    /// The close reason.
    pub reason: String,
}

/// Something the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A binary frame, already applied to the client's document.
    Frame(Bytes),
    /// A WebSocket ping (answered automatically on the next read).
    Ping,
    /// A close frame.
    Closed(CloseNotice),
}

/// One client of one room.
pub struct TestClient {
    socket: WebSocketStream<TestStream>,
    sync: SyncClient,
    frames: Vec<Bytes>,
    sync_step1_received: usize,
    sync_step2_received: usize,
    pings: usize,
}

impl TestClient {
    /// Wraps an upgraded socket and sends the opening SyncStep1, as a provider does on connect.
    pub(crate) async fn start(socket: WebSocketStream<TestStream>) -> Result<Self> {
        let mut client = TestClient {
            socket,
            sync: SyncClient::new(Doc::new()),
            frames: Vec::new(),
            sync_step1_received: 0,
            sync_step2_received: 0,
            pings: 0,
        };
        client.sync.handle_connected();
        client.flush().await?;
        Ok(client)
    }

    /// The client's document.
    pub fn doc(&self) -> &Doc {
        self.sync.doc()
    }

    /// The shared text, as this client sees it.
    pub fn text(&self) -> String {
        let text = self.doc().get_or_insert_text(TEXT);
        text.get_string(&self.doc().transact())
    }

    /// Entry `key` of the shared map, rendered as a string.
    pub fn map_entry(&self, key: &str) -> Option<String> {
        let map = self.doc().get_or_insert_map(MAP);
        let transaction = self.doc().transact();
        map.get(&transaction, key)
            .map(|value| value.to_string(&transaction))
    }

    /// True when updates arrived whose dependencies did not: the client missed something.
    pub fn has_missing_updates(&self) -> bool {
        let transaction = self.doc().transact();
        let store = transaction.store();
        store.pending_update().is_some() || store.pending_ds().is_some()
    }

    /// This client's awareness id.
    pub fn awareness_id(&self) -> ClientID {
        self.sync.awareness().client_id()
    }

    /// The awareness state (JSON) this client currently knows for `client`, if it is present.
    pub fn awareness_state(&self, client: ClientID) -> Option<String> {
        self.sync
            .awareness()
            .iter()
            .find(|(id, _)| *id == client)
            .and_then(|(_, state)| state.data.map(|json| json.to_string()))
    }

    /// Every binary frame received so far, in order.
    pub fn received_frames(&self) -> &[Bytes] {
        &self.frames
    }

    /// How many pings the server sent so far.
    pub fn pings_received(&self) -> usize {
        self.pings
    }

    /// Inserts `chunk` into the shared text at `index` and sends the update.
    pub async fn insert_text(&mut self, index: u32, chunk: &str) -> Result<()> {
        let update = {
            let text = self.doc().get_or_insert_text(TEXT);
            let mut transaction = self.doc().transact_mut();
            text.insert(&mut transaction, index, chunk);
            transaction.encode_update_v1()
        };
        self.sync.handle_local_update(&update);
        self.flush().await
    }

    /// Appends `chunk` to the shared text and sends the update.
    pub async fn append_text(&mut self, chunk: &str) -> Result<()> {
        let end = {
            let text = self.doc().get_or_insert_text(TEXT);
            text.len(&self.doc().transact())
        };
        self.insert_text(end, chunk).await
    }

    /// Sets entry `key` of the shared map to the string `value` and sends the update.
    pub async fn set_map_entry(&mut self, key: &str, value: &str) -> Result<()> {
        let update = {
            let map = self.doc().get_or_insert_map(MAP);
            let mut transaction = self.doc().transact_mut();
            map.insert(&mut transaction, key, value);
            transaction.encode_update_v1()
        };
        self.sync.handle_local_update(&update);
        self.flush().await
    }

    /// Sets this client's awareness state (a JSON object) and announces it.
    pub async fn set_awareness(&mut self, json: &str) -> Result<()> {
        self.sync.handle_local_awareness(json);
        self.flush().await
    }

    /// Sends `frame` as it is, valid or not.
    pub async fn send_binary(&mut self, frame: &[u8]) -> Result<()> {
        self.socket
            .send(Message::Binary(Bytes::copy_from_slice(frame)))
            .await
            .context("sending a binary frame")
    }

    /// Sends a text frame, which y-protocols never uses.
    pub async fn send_text_frame(&mut self, text: &str) -> Result<()> {
        self.socket
            .send(Message::text(text))
            .await
            .context("sending a text frame")
    }

    /// Closes with the WebSocket close handshake.
    pub async fn close(mut self) -> Result<()> {
        self.socket.close(None).await.context("closing")?;
        while let Some(message) = self.socket.next().await {
            if message.is_err() {
                break;
            }
        }
        Ok(())
    }

    /// Reads the next thing the server sends; a binary frame is applied and answered.
    pub async fn next_event(&mut self) -> Result<Event> {
        let read = tokio::time::timeout(WAIT_LIMIT, self.read_event()).await;
        read.map_err(|_| anyhow!("nothing arrived within {WAIT_LIMIT:?}"))?
    }

    /// Reads until the server's SyncStep2 has been applied.
    pub async fn wait_synced(&mut self) -> Result<()> {
        self.wait_until("the first sync", |client| client.sync.is_synced())
            .await
    }

    /// Reads until `holds` is true of this client, failing if the connection closes first or
    /// [`WAIT_LIMIT`] passes.
    pub async fn wait_until(
        &mut self,
        what: &str,
        mut holds: impl FnMut(&TestClient) -> bool,
    ) -> Result<()> {
        let waiting = async {
            while !holds(self) {
                if let Event::Closed(notice) = self.read_event().await? {
                    bail!("closed while waiting for {what}: {notice:?}");
                }
            }
            Ok(())
        };
        match tokio::time::timeout(WAIT_LIMIT, waiting).await {
            Ok(result) => result,
            Err(_) => bail!(
                "waited {WAIT_LIMIT:?} for {what}; text is {:?}",
                self.text()
            ),
        }
    }

    /// Reads until the text equals `expected`.
    pub async fn wait_for_text(&mut self, expected: &str) -> Result<()> {
        self.wait_until(&format!("text {expected:?}"), |client| {
            client.text() == expected
        })
        .await
    }

    /// Reads (applying frames) until the connection ends: the server's close frame if one
    /// came, `None` if the connection ended without one (a server that gave up on a client not
    /// reading drops the socket, often in the middle of a frame).
    pub async fn wait_for_end(&mut self) -> Result<Option<CloseNotice>> {
        let waiting = async {
            loop {
                let Some(Ok(message)) = self.socket.next().await else {
                    return Ok(None);
                };
                if let Some(Event::Closed(notice)) = self.handle_message(message).await? {
                    return Ok(Some(notice));
                }
            }
        };
        tokio::time::timeout(WAIT_LIMIT, waiting)
            .await
            .map_err(|_| anyhow!("the connection was still open after {WAIT_LIMIT:?}"))?
    }

    /// Reads (applying frames) until the server's close frame arrives and returns it; fails if
    /// the connection ends without one.
    pub async fn wait_for_close(&mut self) -> Result<CloseNotice> {
        let waiting = async {
            loop {
                if let Event::Closed(notice) = self.read_event().await? {
                    return Ok(notice);
                }
            }
        };
        tokio::time::timeout(WAIT_LIMIT, waiting)
            .await
            .map_err(|_| anyhow!("no close frame within {WAIT_LIMIT:?}"))?
    }

    /// Reads until `count` pings in all have arrived, answering each.
    pub async fn wait_for_pings(&mut self, count: usize) -> Result<()> {
        self.wait_until(&format!("{count} pings"), |client| client.pings >= count)
            .await
    }

    /// Returns once the server has handled everything this client sent before: the server
    /// answers a SyncStep1 in order with the connection's other frames. It answers every
    /// SyncStep1 with a SyncStep2 and a SyncStep1 of its own; when this returns, every one of
    /// those has arrived and been answered, so nothing from the server is left unread.
    pub async fn wait_for_server_to_catch_up(&mut self) -> Result<()> {
        let answers_before = self.sync_step2_received;
        let state = self.doc().transact().state_vector();
        let question = encode_frame(&SyncProtocolMessage::Sync(SyncMessage::SyncStep1(state)));
        self.send_binary(&question).await?;
        self.wait_until("the answer to SyncStep1", |client| {
            client.sync_step2_received > answers_before
                && client.sync_step1_received == client.sync_step2_received
        })
        .await
    }

    async fn read_event(&mut self) -> Result<Event> {
        loop {
            let message = self
                .socket
                .next()
                .await
                .context("the connection ended without a close frame")?
                .context("the connection failed")?;
            if let Some(event) = self.handle_message(message).await? {
                return Ok(event);
            }
        }
    }

    /// Applies what one message says; `None` for the ones that are no event (pongs).
    async fn handle_message(&mut self, message: Message) -> Result<Option<Event>> {
        Ok(Some(match message {
            Message::Binary(frame) => {
                self.receive_frame(&frame).await?;
                Event::Frame(frame)
            }
            Message::Ping(_) => {
                self.pings += 1;
                Event::Ping
            }
            Message::Close(frame) => Event::Closed(match frame {
                Some(frame) => CloseNotice {
                    code: frame.code.into(),
                    reason: frame.reason.to_string(),
                },
                None => CloseNotice {
                    code: 1005,
                    reason: String::new(),
                },
            }),
            Message::Text(text) => bail!("the server sent a text frame: {text}"),
            Message::Pong(_) | Message::Frame(_) => return Ok(None),
        }))
    }

    async fn receive_frame(&mut self, frame: &Bytes) -> Result<()> {
        self.frames.push(frame.clone());
        let messages = decode_frame(frame).context("the server sent an undecodable frame")?;
        for message in &messages {
            match message {
                SyncProtocolMessage::Sync(SyncMessage::SyncStep1(_)) => {
                    self.sync_step1_received += 1
                }
                SyncProtocolMessage::Sync(SyncMessage::SyncStep2(_)) => {
                    self.sync_step2_received += 1
                }
                _ => {}
            }
        }
        self.sync
            .handle_frame(frame)
            .context("the client could not apply a frame")?;
        self.flush().await
    }

    async fn flush(&mut self) -> Result<()> {
        while let Some(frame) = self.sync.poll_outgoing() {
            self.socket
                .feed(Message::Binary(frame))
                .await
                .context("sending")?;
        }
        self.socket.flush().await.context("flushing")
    }
}
