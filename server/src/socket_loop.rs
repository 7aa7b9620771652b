//! The loop every WebSocket connection runs, whichever protocol it speaks.
//!
//! One task owns a socket. It reads the client's frames and hands them to the protocol, writes
//! what the protocol has for the client, batching whatever is ready into one flush, and owns the
//! connection's lifecycle: keepalive pings, the message-rate limit, refusing text frames, closing
//! a client that stopped reading, shutdown, and the close code for every way a connection ends.
//! What differs between y-websocket (`/ws`) and Hocuspocus (`/hocuspocus`) is behind
//! [`Protocol`]: what a frame from the client does, and where the frames for it come from.
//!
//! The loop is shaped by two costs. An idle connection's memory is its task's future, so what a
//! branch awaits only once in a while is boxed rather than kept inline for the connection's whole
//! life (W7). And a write almost always completes at once, so only a write that waits is bounded
//! by a timer and raced against shutdown; the shutdown wait is made once, not once per frame.

use std::future::poll_fn;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as SocketError, Message};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tracing::debug;
use websocket_deflate::{CompressedMarks, InflateError, SharedMessage};

use crate::close_code;
use crate::config::ServeConfig;
use crate::limits::{InboundRate, OverRate};
use crate::room::CloseReason;
use crate::telemetry;
use crate::websocket::receive;
use crate::websocket::send::{feed_binary, feed_bytes};
use crate::websocket::{SocketSink, SocketStream};

/// How long a closing connection waits for the client's close reply.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a client that stopped reading is given to take its close frame before it is dropped.
const SLOW_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Frames written before a flush, so one slow flush does not hold back the queue forever.
const MAX_FRAMES_PER_FLUSH: usize = 256;

/// How a connection ends.
pub(crate) enum Ending {
    /// Send this close frame, then end.
    Close(CloseReason),
    /// The client is gone (closed, reset); nothing to send.
    Gone,
    /// The client took no bytes for the send timeout: a close frame if it gets through within
    /// [`SLOW_CLOSE_TIMEOUT`], no wait for a reply.
    Stalled(CloseReason),
}

impl Ending {
    /// A close with `code` and `reason`.
    pub(crate) fn close(code: u16, reason: &str) -> Self {
        Ending::Close(CloseReason::new(code, reason))
    }
}

/// What a protocol has for its socket.
pub(crate) enum Outgoing<Work> {
    /// A frame to send the client (often one shared with other clients).
    Send(SharedMessage),
    /// Work the protocol finishes on the connection's task ([`Protocol::resume`]).
    Resume(Work),
    /// The connection must end.
    End(Ending),
}

/// What handling something gave the client.
pub(crate) enum Reply {
    /// Nothing to send; the connection goes on.
    Nothing,
    /// These frames, in order; the connection goes on.
    Send(Vec<Bytes>),
    /// The connection ends.
    End(Ending),
}

/// What one WebSocket protocol adds to the loop.
pub(crate) trait Protocol: Send {
    /// Work handed from [`Protocol::poll_outgoing`] to [`Protocol::resume`].
    type Work: Send;

    /// The protocol's name in telemetry (`quire_connections_open{protocol=...}`).
    const NAME: &'static str;

    /// The close reason for a text frame, which neither protocol has.
    const TEXT_REFUSAL: &'static str;

    /// The next thing the rooms have for this client; `Pending` registers `context`'s waker.
    fn poll_outgoing(&mut self, context: &mut Context<'_>) -> Poll<Outgoing<Self::Work>>;

    /// Finishes work [`Protocol::poll_outgoing`] handed over.
    fn resume(&mut self, work: Self::Work) -> impl Future<Output = Reply> + Send;

    /// Handles one binary frame from the client, within the rate limit.
    fn handle_frame(&mut self, frame: Bytes) -> impl Future<Output = Reply> + Send;

    /// Asked at each keepalive tick, once the client is known to be alive: whether the
    /// connection should end anyway (Hocuspocus: a socket that never opened a document).
    fn check_idle(&self, _idle_timeout: Duration) -> Option<Ending> {
        None
    }

    /// Counts a frame by its message type.
    fn count(counters: &telemetry::FrameCounters, frame: &[u8]);

    /// Leaves every room the connection is in.
    fn leave(&mut self) -> impl Future<Output = ()> + Send;
}

/// Serves a socket with `protocol` until it ends, then closes it the way it ended. `deflate` is
/// `Some` when the client agreed to permessage-deflate.
///
/// Everything is borrowed: the caller's future holds the socket and the protocol once, where
/// taking them by value would keep a second copy in this future for the connection's life.
pub(crate) async fn run<P: Protocol>(
    sink: &mut SocketSink,
    stream: &mut SocketStream,
    deflate: Option<&CompressedMarks>,
    protocol: &mut P,
    config: &ServeConfig,
    shutdown: &CancellationToken,
) {
    let _open = telemetry::OpenConnection::new(P::NAME);

    let mut keepalive = tokio::time::interval(config.ping_interval());
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    keepalive.tick().await;
    let mut last_heard = Instant::now();
    let mut rate = InboundRate::new(config.max_messages_per_second, config.max_bytes_per_second);
    // One wait for shutdown for the connection's life: made anew each turn, it would join and
    // leave the token's list of waiters (a lock each way) for every frame.
    let mut stopping = pin!(shutdown.cancelled());
    // What a batch found ready but could not write (the end, or work to resume): next turn's.
    // Boxed: rarely set, and an idle connection's task would otherwise keep its room.
    let mut held: Option<Box<Outgoing<P::Work>>> = None;

    let ending = loop {
        let turn = match held.take() {
            Some(outgoing) => Turn::Outgoing(*outgoing),
            None => tokio::select! {
                biased;
                _ = &mut stopping => {
                    break Ending::close(close_code::GOING_AWAY, "server shutting down");
                }
                outgoing = poll_fn(|context| protocol.poll_outgoing(context)) => Turn::Outgoing(outgoing),
                message = stream.next() => {
                    last_heard = Instant::now();
                    match message {
                        Some(Ok(Message::Binary(frame))) => {
                            Turn::Frame(frame, receive::arrived_compressed(deflate))
                        }
                        Some(Ok(Message::Text(_))) => {
                            telemetry::record_refusal("malformed_frame");
                            break Ending::close(close_code::MALFORMED, P::TEXT_REFUSAL);
                        }
                        // Reading reassembles frames into messages: `Frame` is for writing only.
                        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                            Turn::Nothing
                        }
                        Some(Ok(Message::Close(_))) | None => break Ending::Gone,
                        Some(Err(error)) => break ending_for_read_error(error),
                    }
                }
                _ = keepalive.tick() => {
                    if last_heard.elapsed() >= config.idle_timeout() {
                        break Ending::close(close_code::KEEPALIVE_TIMEOUT, "no answer to keepalive pings");
                    }
                    if let Some(ending) = protocol.check_idle(config.idle_timeout()) {
                        break ending;
                    }
                    if Box::pin(sink.send(Message::Ping(Default::default()))).await.is_err() {
                        break Ending::Gone;
                    }
                    Turn::Nothing
                }
            },
        };
        // Whatever is awaited from here on is boxed, and nothing of this turn stays alive across
        // it: an idle connection's task keeps the room for all of that for its whole life (W7).
        let batch = match turn {
            Turn::Nothing => continue,
            Turn::Outgoing(Outgoing::Send(frame)) => Batch::One(frame),
            Turn::Outgoing(Outgoing::End(ending)) => break ending,
            Turn::Outgoing(Outgoing::Resume(work)) => {
                match batch_of(Box::pin(protocol.resume(work)).await) {
                    Ok(Some(batch)) => batch,
                    Ok(None) => continue,
                    Err(ending) => break ending,
                }
            }
            Turn::Frame(frame, compressed) => {
                // Counted at its size on the wire first: a connection over its rate is closed
                // before any work is spent inflating what it sent.
                match rate.allow(last_heard.into_std(), frame.len()) {
                    Ok(()) => {}
                    Err(OverRate::Messages) => {
                        telemetry::record_refusal("rate_limited");
                        break Ending::close(
                            close_code::RATE_LIMITED,
                            "sending more messages a second than the server allows",
                        );
                    }
                    Err(OverRate::Bytes) => {
                        telemetry::record_refusal("byte_rate_limited");
                        break Ending::close(
                            close_code::RATE_LIMITED,
                            "sending more bytes a second than the server allows",
                        );
                    }
                }
                let frame = if compressed {
                    match receive::inflate_received(&frame, config.max_message_bytes) {
                        Ok(inflated) => {
                            let added = inflated.len().saturating_sub(frame.len());
                            rate.charge(last_heard.into_std(), added);
                            inflated
                        }
                        Err(error) => break ending_for_inflate_error(error),
                    }
                } else {
                    frame
                };
                P::count(&telemetry::FRAMES_RECEIVED, &frame);
                match batch_of(Box::pin(protocol.handle_frame(frame)).await) {
                    Ok(Some(batch)) => batch,
                    Ok(None) => continue,
                    Err(ending) => break ending,
                }
            }
        };
        let deflate = deflate.is_some();
        let delivering = deliver(
            sink,
            batch,
            deflate,
            protocol,
            &mut held,
            stopping.as_mut(),
            config,
        );
        if let Some(ending) = Box::pin(delivering).await {
            break ending;
        }
    };
    // Boxed too: awaited once, and the loop's state above is still in scope.
    Box::pin(protocol.leave()).await;
    Box::pin(finish(sink, stream, ending, shutdown, config)).await;
}

/// One turn of the loop: what came from the rooms, a frame from the client (and whether it
/// arrived compressed), or nothing to do.
enum Turn<Work> {
    Outgoing(Outgoing<Work>),
    Frame(Bytes, bool),
    Nothing,
}

/// What `reply` asks of the loop: frames to write (if any), or the end.
fn batch_of(reply: Reply) -> Result<Option<Batch>, Ending> {
    match reply {
        Reply::Nothing => Ok(None),
        Reply::Send(frames) => Ok(Some(Batch::Many(frames))),
        Reply::End(ending) => Err(ending),
    }
}

/// Frames to write in one flush: one from the rooms (which allocates nothing), or a reply's.
enum Batch {
    One(SharedMessage),
    Many(Vec<Bytes>),
}

/// Writes `batch`, and whatever else the protocol has ready; the connection's end if the client
/// could not take it.
async fn deliver<P: Protocol>(
    sink: &mut SocketSink,
    batch: Batch,
    deflate: bool,
    protocol: &mut P,
    held: &mut Option<Box<Outgoing<P::Work>>>,
    stopping: Pin<&mut WaitForCancellationFuture<'_>>,
    config: &ServeConfig,
) -> Option<Ending> {
    let mut writing = pin!(write_batch(sink, batch, deflate, protocol, held));
    // Almost every write completes at once, the socket having room. One that waits is a client
    // that stopped reading and filled its socket: only then is the write bounded, and made to
    // give way to shutdown (a close frame could not get through anyway), which spares arming a
    // timer for every write.
    let written = match poll_once(&mut writing).await {
        Poll::Ready(written) => Ok(written),
        Poll::Pending => tokio::select! {
            biased;
            // The close frame goes after what is still being written, and `finish` bounds the
            // wait for both by the grace: a client whose socket takes it all gets 1001, one that
            // stays wedged gets nothing. (Ending it as gone would have sent a close without a
            // code, 1005, to a client that did take it all.)
            _ = stopping => return Some(Ending::close(close_code::GOING_AWAY, "server shutting down")),
            written = tokio::time::timeout(config.send_timeout(), writing) => written,
        },
    };
    match written {
        Ok(Ok(())) => None,
        Ok(Err(_)) => Some(Ending::Gone),
        Err(_) => {
            // The client has taken no bytes for the send timeout: told so if a close frame still
            // gets through within a second, dropped either way. Its queued frames go with it.
            debug!("closing a client that has not read for the send timeout");
            metrics::counter!(telemetry::SLOW_CLIENT_DISCONNECTS).increment(1);
            let reason = CloseReason::new(
                close_code::SLOW_CONSUMER,
                "not reading: reconnect to resync",
            );
            Some(Ending::Stalled(reason))
        }
    }
}

/// Writes `batch`, then whatever frames the protocol already has ready (up to a flush's worth),
/// and flushes once; compressed where worth it if `deflate`. Something ready that is not a frame
/// is left in `held` for the loop.
async fn write_batch<P: Protocol>(
    sink: &mut SocketSink,
    batch: Batch,
    deflate: bool,
    protocol: &mut P,
    held: &mut Option<Box<Outgoing<P::Work>>>,
) -> Result<(), SocketError> {
    let (first, rest) = match batch {
        Batch::One(frame) => (Some(frame), Vec::new()),
        Batch::Many(frames) => (None, frames),
    };
    let mut written = 0;
    if let Some(frame) = first {
        P::count(&telemetry::FRAMES_SENT, frame.bytes());
        feed_binary(sink, frame, deflate).await?;
        written += 1;
    }
    for frame in rest {
        P::count(&telemetry::FRAMES_SENT, &frame);
        if deflate {
            feed_binary(sink, SharedMessage::new(frame), true).await?;
        } else {
            feed_bytes(sink, frame).await?;
        }
        written += 1;
    }
    while written < MAX_FRAMES_PER_FLUSH && held.is_none() {
        match poll_ready(protocol) {
            Poll::Ready(Outgoing::Send(frame)) => {
                P::count(&telemetry::FRAMES_SENT, frame.bytes());
                feed_binary(sink, frame, deflate).await?;
                written += 1;
            }
            Poll::Ready(other) => *held = Some(Box::new(other)),
            Poll::Pending => break,
        }
    }
    sink.flush().await
}

/// What the protocol has ready now, if anything: the loop's next turn waits with a real waker.
fn poll_ready<P: Protocol>(protocol: &mut P) -> Poll<Outgoing<P::Work>> {
    protocol.poll_outgoing(&mut Context::from_waker(Waker::noop()))
}

/// Ends a WebSocket the way `ending` says: a close frame and a short wait for the client's
/// close reply, or nothing when the client is gone.
pub(crate) async fn finish(
    sink: &mut SocketSink,
    stream: &mut SocketStream,
    ending: Ending,
    shutdown: &CancellationToken,
    config: &ServeConfig,
) {
    if let Ending::Stalled(reason) = ending {
        let _ = tokio::time::timeout(SLOW_CLOSE_TIMEOUT, sink.send(close_message(reason))).await;
        return;
    }
    let closing = async {
        if let Ending::Close(reason) = ending {
            debug!(code = reason.code, reason = %reason.reason, "closing");
            if sink.send(close_message(reason)).await.is_err() {
                return;
            }
            // Read until the client's close reply: dropping the socket while the client is still
            // sending would make the kernel answer with a reset, which discards the frames and
            // the close frame still in flight to it.
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        }
        let _ = sink.close().await;
    };
    // Bounded as a whole: a client that stopped reading would hold even the final flush, and
    // with it this task and its buffers, for as long as it kept its socket open. While the
    // server stops, every connection waits at once and must fit in the grace.
    let patience = if shutdown.is_cancelled() {
        config.shutdown_grace() / 4
    } else {
        CLOSE_HANDSHAKE_TIMEOUT
    };
    let _ = tokio::time::timeout(patience, closing).await;
}

/// Polls `future` once, leaving it to be awaited further if it is not done.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    poll_fn(|context| Poll::Ready(Pin::new(&mut *future).poll(context))).await
}

/// A compressed message that could not be inflated: too big like any other, or malformed.
fn ending_for_inflate_error(error: InflateError) -> Ending {
    match error {
        InflateError::TooLarge { .. } => {
            telemetry::record_refusal("message_too_big");
            Ending::close(close_code::TOO_BIG, &format!("message too big: {error}"))
        }
        InflateError::Invalid(_) => {
            telemetry::record_refusal("malformed_frame");
            Ending::close(close_code::MALFORMED, &error.to_string())
        }
    }
}

/// A read error that is the client's fault gets a close code; others mean it is gone.
fn ending_for_read_error(error: SocketError) -> Ending {
    match error {
        SocketError::Capacity(capacity) => {
            telemetry::record_refusal("message_too_big");
            Ending::close(close_code::TOO_BIG, &format!("message too big: {capacity}"))
        }
        SocketError::Protocol(protocol) => Ending::close(
            close_code::PROTOCOL_ERROR,
            &format!("WebSocket protocol error: {protocol}"),
        ),
        // A text message that is not UTF-8 (a compressed one always looks so to tungstenite):
        // text is refused with 1007 either way.
        SocketError::Utf8(_) => {
            telemetry::record_refusal("malformed_frame");
            Ending::close(close_code::MALFORMED, "text messages are not accepted")
        }
        _ => Ending::Gone,
    }
}

/// The close frame for `reason`.
pub(crate) fn close_message(reason: CloseReason) -> Message {
    Message::Close(Some(CloseFrame {
        code: reason.code.into(),
        reason: reason.reason.into(),
    }))
}
