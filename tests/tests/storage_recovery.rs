//! Stored documents across restarts: damage in the data directory, and many writers at once.

use anyhow::{Context, Result};
use quire_tests::TestServer;
use storage::testing::{RawRecordAccess, RawSlot};
use storage::{DocStore, Seq, SledStore};
use yrs::{Doc, GetString, Text, Transact};

/// Appends `pieces` to `doc`'s stored log, one Yjs update each, as a server would have.
fn store_edits(store: &SledStore, doc: &str, pieces: &[&str]) -> Result<()> {
    let client = Doc::new();
    let text = client.get_or_insert_text("text");
    for piece in pieces {
        let mut transaction = client.transact_mut();
        let end = text.get_string(&transaction).len() as u32;
        text.insert(&mut transaction, end, piece);
        let update = transaction.encode_update_v1();
        drop(transaction);
        store.append(doc, &update)?;
    }
    store.flush()?;
    Ok(())
}

/// A damaged record in the data dir: the document loads up to it, the error is counted, the
/// other documents are intact, and the server keeps serving (and saving) that document.
#[tokio::test]
async fn damaged_records_load_up_to_the_damage_and_the_server_keeps_serving() -> Result<()> {
    let data_dir = tempfile::tempdir()?;
    {
        let store = SledStore::open(data_dir.path())?;
        store_edits(&store, "damaged", &["one ", "two ", "three ", "four "])?;
        store_edits(&store, "healthy", &["all ", "of ", "it"])?;
        let mut record = store
            .read_raw("damaged", RawSlot::Update(Seq(3)))
            .context("the third update is stored")?;
        let middle = record.len() / 2;
        record[middle] ^= 0xff;
        assert!(store.write_raw("damaged", RawSlot::Update(Seq(3)), Some(&record)));
    }

    let server = TestServer::start_in(data_dir.path(), |_| {}).await?;
    let mut reader = server.connect_synced("damaged").await?;
    assert_eq!(
        reader.text(),
        "one two ",
        "everything before the damaged record"
    );
    let healthy = server.connect_synced("healthy").await?;
    assert_eq!(healthy.text(), "all of it");
    let metrics = server.get("/metrics").await?;
    let counted = metrics
        .lines()
        .find_map(|line| line.strip_prefix("quire_storage_corrupt_records_total "))
        .context("the damage is counted")?;
    assert!(counted.trim().parse::<f64>()? >= 1.0, "{counted}");

    // Still served: new edits to the damaged document are kept across a restart.
    reader.append_text("five").await?;
    reader.wait_for_server_to_catch_up().await?;
    drop(reader);
    drop(healthy);
    server.stop().await?;
    let server = TestServer::start_in(data_dir.path(), |_| {}).await?;
    let reader = server.connect_synced("damaged").await?;
    assert_eq!(reader.text(), "one two five");
    let healthy = server.connect_synced("healthy").await?;
    assert_eq!(healthy.text(), "all of it");
    server.stop().await
}

/// Many writers across many rooms at once: every room converges with every edit, and all of it
/// is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_writers_across_many_rooms_lose_nothing() -> Result<()> {
    const ROOMS: usize = 12;
    const WRITERS: usize = 4;
    const EDITS: usize = 20;
    let data_dir = tempfile::tempdir()?;
    let server = TestServer::start_in(data_dir.path(), |_| {}).await?;
    let mut writers = Vec::new();
    for room in 0..ROOMS {
        for writer in 0..WRITERS {
            let mut client = server.connect_synced(&format!("busy-{room}")).await?;
            writers.push(tokio::spawn(async move {
                for edit in 0..EDITS {
                    client.append_text(&format!("<{writer}.{edit}>")).await?;
                }
                client.wait_for_server_to_catch_up().await?;
                anyhow::Ok(client)
            }));
        }
    }
    let mut clients = Vec::new();
    for writer in writers {
        clients.push(writer.await??);
    }
    let expected = |text: &str| {
        (0..WRITERS)
            .all(|writer| (0..EDITS).all(|edit| text.contains(&format!("<{writer}.{edit}>"))))
    };
    for client in &mut clients {
        client
            .wait_until("every edit of its room", |client| expected(&client.text()))
            .await?;
    }
    for room in clients.chunks(WRITERS) {
        let text = room[0].text();
        assert!(
            room.iter().all(|client| client.text() == text),
            "a room converged"
        );
    }
    drop(clients);
    server.stop().await?;

    let server = TestServer::start_in(data_dir.path(), |_| {}).await?;
    for room in 0..ROOMS {
        let reader = server.connect_synced(&format!("busy-{room}")).await?;
        assert!(expected(&reader.text()), "room {room} kept every edit");
    }
    server.stop().await
}
