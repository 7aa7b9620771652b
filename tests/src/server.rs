//! A Quire server running in-process for one test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use server::{ServeConfig, Server, ServerError};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::Error as SocketError;
use tokio_util::sync::CancellationToken;

use crate::WAIT_LIMIT;
use crate::client::TestClient;
use crate::directory_store::open_directory_store;
use crate::transport::TestStream;

/// Bytes of a room name left as they are in a URL path: unreserved characters and `/`, which
/// y-websocket leaves unescaped and Quire keeps as part of the name.
const PATH_KEEPS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The URL path of room `name`: `/ws/` and the name, percent-encoded except for slashes.
pub fn room_path(name: &str) -> String {
    format!("/ws/{}", utf8_percent_encode(name, PATH_KEEPS))
}

/// A refused WebSocket upgrade, as the client saw it.
#[derive(Debug)]
pub struct HttpRefusal {
    /// The HTTP status.
    pub status: u16,
    /// The body, parsed as JSON.
    pub body: serde_json::Value,
}

/// A server listening on a free port of 127.0.0.1, storing in a temporary directory.
pub struct TestServer {
    address: SocketAddr,
    shutdown: CancellationToken,
    running: Option<JoinHandle<Result<(), ServerError>>>,
    data_dir: PathBuf,
}

impl TestServer {
    /// Starts a server with the default settings.
    pub async fn start() -> Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts a server whose settings `configure` adjusts.
    pub async fn start_with(configure: impl FnOnce(&mut ServeConfig)) -> Result<Self> {
        let directory = tempfile::tempdir().context("creating the data directory")?;
        let config = Self::config(directory.path(), configure);
        let data_dir = config.data_dir.clone();
        let cache_bytes = config.cache_bytes;
        let store =
            tokio::task::spawn_blocking(move || open_directory_store(directory, cache_bytes))
                .await
                .context("opening the store panicked")?
                .context("opening the store")?;
        let shutdown = CancellationToken::new();
        let server = Server::bind_with_store(config, store, shutdown.clone())
            .await
            .context("binding the server")?;
        Ok(Self::run(server, shutdown, data_dir))
    }

    /// Starts a server on an existing data directory (which outlives it), for restarts.
    pub async fn start_in(
        data_dir: &Path,
        configure: impl FnOnce(&mut ServeConfig),
    ) -> Result<Self> {
        let config = Self::config(data_dir, configure);
        let shutdown = CancellationToken::new();
        let server = Server::bind(config, shutdown.clone())
            .await
            .context("binding the server")?;
        Ok(Self::run(server, shutdown, data_dir.to_path_buf()))
    }

    fn config(data_dir: &Path, configure: impl FnOnce(&mut ServeConfig)) -> ServeConfig {
        let mut config = ServeConfig::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir.to_path_buf(),
        );
        configure(&mut config);
        config
    }

    fn run(server: Server, shutdown: CancellationToken, data_dir: PathBuf) -> Self {
        let address = server.local_addr();
        let running = tokio::spawn(server.run());
        TestServer {
            address,
            shutdown,
            running: Some(running),
            data_dir,
        }
    }

    /// The directory the server stores in.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops the server gracefully and waits until it has.
    pub async fn stop(mut self) -> Result<()> {
        self.begin_shutdown();
        self.stopped()
            .await?
            .context("the server stopped with an error")
    }

    /// The body of `GET path`, over a plain HTTP/1.1 connection.
    pub async fn get(&self, path: &str) -> Result<String> {
        Ok(self.request("GET", path, None).await?.1)
    }

    /// Sends `method path` over a plain HTTP/1.1 connection, with `body` as
    /// `application/octet-stream` if given; the status and the body of the answer.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, String)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = TcpStream::connect(self.address).await?;
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.address
        );
        if let Some(body) = body {
            request.push_str(&format!(
                "Content-Type: application/octet-stream\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await?;
        stream.write_all(body.unwrap_or_default()).await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        let (head, body) = response
            .split_once("\r\n\r\n")
            .context("an HTTP response has a blank line before its body")?;
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|status| status.parse().ok())
            .context("an HTTP response starts with its status")?;
        Ok((status, body.to_owned()))
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Connects a client to room `name` and starts its sync (SyncStep1 sent, nothing awaited).
    pub async fn connect(&self, name: &str) -> Result<TestClient> {
        let stream = TcpStream::connect(self.address)
            .await
            .context("connecting to the server")?;
        self.upgrade(stream, name).await
    }

    /// Connects a client to room `name` and waits until its first sync is complete.
    pub async fn connect_synced(&self, name: &str) -> Result<TestClient> {
        let mut client = self.connect(name).await?;
        client.wait_synced().await?;
        Ok(client)
    }

    /// Like [`TestServer::connect`], with the client's kernel receive buffer limited to about
    /// `bytes`, so a client that stops reading backs up the server quickly.
    pub async fn connect_with_receive_buffer(&self, name: &str, bytes: u32) -> Result<TestClient> {
        let socket = TcpSocket::new_v4().context("creating a socket")?;
        socket
            .set_recv_buffer_size(bytes)
            .context("limiting the receive buffer")?;
        let stream = socket
            .connect(self.address)
            .await
            .context("connecting to the server")?;
        self.upgrade(stream, name).await
    }

    /// Requests an upgrade of `path` (already percent-encoded) and returns the refusal; fails if
    /// the upgrade succeeded.
    pub async fn refused_upgrade(&self, path: &str) -> Result<HttpRefusal> {
        let stream = TcpStream::connect(self.address)
            .await
            .context("connecting to the server")?;
        let url = format!("ws://{}{}", self.address, path);
        match client_async(url.as_str(), stream).await {
            Ok(_) => bail!("the upgrade of {path} was accepted"),
            Err(SocketError::Http(response)) => {
                let body = response.body().clone().unwrap_or_default();
                let body = serde_json::from_slice(&body).with_context(|| {
                    format!("the body is not JSON: {}", String::from_utf8_lossy(&body))
                })?;
                Ok(HttpRefusal {
                    status: response.status().as_u16(),
                    body,
                })
            }
            Err(error) => Err(anyhow!(error).context(format!("requesting {path}"))),
        }
    }

    /// Cancels the server's shutdown token, as SIGTERM does.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits for `run()` to return (after [`TestServer::begin_shutdown`]) and yields its result.
    pub async fn stopped(&mut self) -> Result<Result<(), ServerError>> {
        let running = self
            .running
            .take()
            .context("the server was already awaited")?;
        let finished = tokio::time::timeout(WAIT_LIMIT, running)
            .await
            .context("run() did not return")?;
        finished.context("the server task panicked")
    }

    async fn upgrade(&self, stream: TcpStream, name: &str) -> Result<TestClient> {
        stream.set_nodelay(true).context("disabling Nagle")?;
        let url = format!("ws://{}{}", self.address, room_path(name));
        let (socket, _response) = client_async(url.as_str(), TestStream::new(stream))
            .await
            .with_context(|| format!("upgrading {url}"))?;
        TestClient::start(socket).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
