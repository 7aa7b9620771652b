//! quire-client against a server that accepts the WebSocket and then stops reading: what a
//! wedged server or a peer behind a stuck proxy looks like from the client's side.
//!
//! The server here is a raw listener doing only the WebSocket handshake, since a real Quire
//! server keeps reading; its small receive buffer and the client's at most few-MiB send buffer
//! (Linux caps autotuning at 4 MiB by default) mean a 16 MiB edit cannot all be handed to TCP.

mod support;

use anyhow::{Context, Result, bail};
use quire_client::{Client, ConnectionState, Endpoint};
use quire_tests::WAIT_LIMIT;
use support::{insert, quick_policy, wait_until};
use tokio::io::AsyncReadExt;
use tokio::net::TcpSocket;
use tokio::time::timeout;

/// Far more than the kernel buffers between the two ends can hold.
const EDIT_BYTES: usize = 16 << 20;

/// How much of the edit the server reads before it stops: proof that the client is sending it.
const READ_BEFORE_STALLING: usize = 1 << 20;

/// Shutting down returns promptly while the client is stuck sending to a server that stopped
/// reading.
#[tokio::test]
async fn shutdown_returns_while_sending_to_a_server_that_stopped_reading() -> Result<()> {
    let listening = TcpSocket::new_v4()?;
    // Inherited by the accepted connection; keeps TCP from absorbing the whole edit.
    listening.set_recv_buffer_size(64 << 10)?;
    listening.bind("127.0.0.1:0".parse()?)?;
    let listener = listening.listen(1)?;
    let url = format!("http://{}", listener.local_addr()?);
    let client = Client::connect(Endpoint::new(&url, "notes", None)?, quick_policy());
    let (stream, _) = timeout(WAIT_LIMIT, listener.accept())
        .await
        .context("the client did not connect")??;
    let mut server = timeout(WAIT_LIMIT, tokio_tungstenite::accept_async(stream))
        .await
        .context("the WebSocket handshake did not finish")??;
    // Edits made before the connection are sent by the sync the server never answers; an
    // edit made on the connection is sent at once.
    wait_until(&client, "the connection", |_, status| {
        status.connection == ConnectionState::Syncing
    })
    .await?;
    insert(&client, 0, &"x".repeat(EDIT_BYTES));

    let reading = async {
        let mut buffer = vec![0; 64 << 10];
        let mut received = 0;
        while received < READ_BEFORE_STALLING {
            match server.get_mut().read(&mut buffer).await? {
                0 => bail!("the client closed the connection"),
                read => received += read,
            }
        }
        Ok(())
    };
    timeout(WAIT_LIMIT, reading)
        .await
        .context("the client did not send the edit")??;

    timeout(WAIT_LIMIT, client.shutdown())
        .await
        .context("shutting down waited for the stalled send")??;
    drop(server);
    Ok(())
}
