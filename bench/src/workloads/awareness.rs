//! W5, awareness storm: N clients in one room each update their awareness state (a cursor) at
//! `--hz`, as N people typing at once would.
//!
//! Each client announces its state with a rising clock; every other client should see it. A
//! receiver reads only the (client, clock) pairs at the start of each entry of an awareness
//! update (y-protocols' layout: count, then per entry client, clock, JSON) and looks the send
//! instant up by sender and clock, so no JSON is parsed. Awareness is a state, not a log: a
//! server may legitimately skip intermediate states, so validity is that every client ends up
//! with every other client's last state; deliveries count every newer state a client saw.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream;
use futures_util::{FutureExt, SinkExt, StreamExt};
use rand::Rng;
use tokio_tungstenite::tungstenite::Message;
use yrs::block::ClientID;
use yrs::encoding::read::{Cursor, Read};
use yrs::sync::AwarenessUpdate;
use yrs::sync::awareness::AwarenessUpdateEntry;
use yrs::updates::encoder::Encode;

use crate::connection::{SyncedClient, describe_end, send_now};
use crate::error::BenchError;
use crate::protocol::Incoming;
use crate::report::{LatencyRecorder, Measurement, per_second};
use crate::traffic::JOIN_CONCURRENCY;
use crate::workloads::{Bench, size};

/// Awareness client id of client 0; client i is `FIRST_CLIENT + i`.
const FIRST_CLIENT: u64 = 0x0041_5741_0000;

/// How long the last states may take to arrive after the last send.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

/// Options of `awareness`.
#[derive(Debug, Clone, clap::Args)]
pub struct AwarenessOptions {
    /// Clients in the room [default: 50; --quick: 5].
    #[arg(long)]
    pub clients: Option<u32>,
    /// Awareness updates per client per second.
    #[arg(long, default_value_t = 10.0)]
    pub hz: f64,
    /// Length of the run in seconds [default: 10; --quick: 1].
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Tiny run for smoke tests: smaller defaults.
    #[arg(long)]
    pub quick: bool,
}

/// What all clients share.
struct Board {
    clients: usize,
    /// Send instants per sender, indexed by clock - 1.
    sent: Vec<Vec<Instant>>,
    /// Highest clock each receiver saw of each sender (`receiver * clients + sender`).
    seen: Vec<u32>,
    deliveries: u64,
    latency: LatencyRecorder,
    /// Clients that sent their last state.
    done_sending: usize,
}

impl Board {
    fn receive(&mut self, receiver: usize, sender: usize, clock: u32, at: Instant) {
        let seen = &mut self.seen[receiver * self.clients + sender];
        if clock <= *seen {
            return;
        }
        *seen = clock;
        if let Some(sent) = self.sent[sender].get(clock as usize - 1) {
            self.deliveries += 1;
            self.latency.record(at.saturating_duration_since(*sent));
        }
    }

    /// Receivers that lack another client's last state.
    fn unconverged(&self) -> usize {
        (0..self.clients)
            .filter(|&receiver| {
                (0..self.clients).any(|sender| {
                    sender != receiver
                        && self.seen[receiver * self.clients + sender]
                            < self.sent[sender].len() as u32
                })
            })
            .count()
    }
}

/// Runs W5 and reports one measurement.
pub async fn run(bench: &Bench, options: &AwarenessOptions) -> Result<(), BenchError> {
    let client_count = size(options.clients, options.quick, 50, 5);
    let seconds = size(options.seconds, options.quick, 10.0, 1.0);
    if client_count < 2 || options.hz <= 0.0 || seconds <= 0.0 {
        return Err(BenchError::Options(
            "--clients must be at least 2, --hz and --seconds positive".to_owned(),
        ));
    }
    let clients = client_count as usize;
    let room = bench.room("awareness");
    let room = &room;
    let mut joining = stream::iter(0..clients)
        .map(|index| async move { (index, bench.connector.join(room, None).await) })
        .buffer_unordered(JOIN_CONCURRENCY);
    let mut joined = Vec::with_capacity(clients);
    while let Some((index, client)) = joining.next().await {
        joined.push((index, client?));
    }
    drop(joining);
    let board = Arc::new(Mutex::new(Board {
        clients,
        sent: vec![Vec::new(); clients],
        seen: vec![0; clients * clients],
        deliveries: 0,
        latency: LatencyRecorder::default(),
        done_sending: 0,
    }));

    let sampling = bench.start_sampling()?;
    let started = Instant::now();
    let sends_end = started + Duration::from_secs_f64(seconds);
    let period = Duration::from_secs_f64(1.0 / options.hz);
    let tasks: Vec<_> = joined
        .into_iter()
        .map(|(index, client)| {
            let offset = period.mul_f64(rand::rng().random::<f64>());
            let board = Arc::clone(&board);
            tokio::spawn(run_client(
                client,
                index,
                board,
                started + offset,
                period,
                sends_end,
            ))
        })
        .collect();
    let mut problems = Vec::new();
    for task in tasks {
        if let Ok(Some(problem)) = task.await {
            problems.push(problem);
        }
    }
    let board = board.lock().expect("board lock");
    let sent: u64 = board.sent.iter().map(|sent| sent.len() as u64).sum();
    let elapsed = seconds;

    let mut measurement = Measurement::new(&bench.context, "W5", "awareness");
    measurement
        .param("clients", client_count)
        .param("hz", options.hz)
        .param("seconds", seconds);
    bench.finish_sampling(sampling, &mut measurement)?;
    measurement
        .metric(
            "awareness_deliveries_per_second",
            per_second(board.deliveries, Duration::from_secs_f64(elapsed)),
        )
        .metric("awareness_updates_sent", sent)
        .metric("deliveries", board.deliveries)
        .metric("most_deliveries", sent * (clients as u64 - 1));
    measurement.latency_ms = board.latency.summary();
    for problem in problems {
        measurement.problem(problem);
    }
    let unconverged = board.unconverged();
    if unconverged > 0 {
        measurement.problem(format!(
            "{unconverged} of {clients} clients lack another client's last state"
        ));
    }
    bench.emit(&measurement)
}

/// One client: announces its state every `period` from `first` until `sends_end`, records what
/// it receives, and stops once every other client's last state arrived or the settle time ran
/// out. Returns a problem if the connection ended early.
///
/// The timer is one pinned `Sleep` reset per announcement (not a new one per received frame),
/// and frames already buffered are read in one go with one clock reading: at 200 clients a
/// client receives 2,000 states a second and the generator must not be what falls behind.
async fn run_client(
    client: SyncedClient,
    index: usize,
    board: Arc<Mutex<Board>>,
    first: Instant,
    period: Duration,
    sends_end: Instant,
) -> Option<String> {
    let SyncedClient {
        framing,
        mut sink,
        mut stream,
        ..
    } = client;
    let own = FIRST_CLIENT + index as u64;
    let mut next_send = first;
    let mut clock = 0u32;
    let settle_end = sends_end + SETTLE_LIMIT;
    if first >= sends_end {
        board.lock().expect("board lock").done_sending += 1;
    }
    let timer = tokio::time::sleep_until(first.into());
    tokio::pin!(timer);
    loop {
        tokio::select! {
            () = &mut timer => {
                if next_send < sends_end {
                    clock += 1;
                    let update = state_update(own, clock);
                    board.lock().expect("board lock").sent[index].push(Instant::now());
                    if let Err(error) = send_now(&mut sink, framing.awareness(&update)).await {
                        return Some(format!("client {index}: socket error: {error}"));
                    }
                    next_send += period;
                    if next_send >= sends_end {
                        board.lock().expect("board lock").done_sending += 1;
                    }
                } else if Instant::now() > settle_end || has_everything(&board, index) {
                    break;
                }
                // Once done sending, check now and then whether everything arrived.
                let wake = if next_send < sends_end {
                    next_send
                } else {
                    Instant::now() + Duration::from_millis(20)
                };
                timer.as_mut().reset(wake.into());
            }
            message = stream.next() => {
                let received_at = Instant::now();
                let mut message = message;
                loop {
                    match message {
                        Some(Ok(Message::Binary(frame))) => {
                            if let Ok(Incoming::Awareness(update)) = framing.read(&frame) {
                                record_entries(update, index, &board, received_at);
                            }
                        }
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                            return Some(format!("client {index}: {}", describe_end(message)));
                        }
                        Some(Ok(_)) => {}
                    }
                    match stream.next().now_or_never() {
                        Some(next) => message = next,
                        None => break,
                    }
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    None
}

fn has_everything(board: &Mutex<Board>, receiver: usize) -> bool {
    let board = board.lock().expect("board lock");
    board.done_sending == board.clients
        && (0..board.clients).all(|sender| {
            sender == receiver
                || board.seen[receiver * board.clients + sender] >= board.sent[sender].len() as u32
        })
}

/// Client `own`'s state at `clock`: a cursor position, as editors announce.
fn state_update(own: u64, clock: u32) -> Vec<u8> {
    let json = format!(r#"{{"user":{{"name":"bench-{own}"}},"cursor":{clock}}}"#);
    AwarenessUpdate {
        clients: HashMap::from([(
            ClientID::new(own),
            AwarenessUpdateEntry {
                clock,
                json: json.into(),
            },
        )]),
    }
    .encode_v1()
}

/// Records the (client, clock) of each entry of an encoded awareness update.
fn record_entries(update: &[u8], receiver: usize, board: &Mutex<Board>, at: Instant) {
    let mut cursor = Cursor::new(update);
    let Ok(entries) = cursor.read_var::<u32>() else {
        return;
    };
    let mut board = board.lock().expect("board lock");
    for _ in 0..entries {
        let Ok(client) = cursor.read_var::<u64>() else {
            return;
        };
        let Ok(clock) = cursor.read_var::<u32>() else {
            return;
        };
        if cursor.read_string().is_err() {
            return;
        }
        let Some(sender) = client
            .checked_sub(FIRST_CLIENT)
            .map(|sender| sender as usize)
            .filter(|&sender| sender < board.clients && sender != receiver)
        else {
            continue;
        };
        if clock > 0 {
            board.receive(receiver, sender, clock, at);
        }
    }
}
