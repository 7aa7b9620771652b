use anyhow::Result;
use quire_tests::{Event, TestServer};
use server::Durability;

#[tokio::test]
async fn debug_flood() -> Result<()> {
    let server = TestServer::start_with(|config| {
        config.client_queue_frames = 8;
        config.durability = Durability::Relaxed;
    })
    .await?;
    let mut reader = server.connect_with_receive_buffer("flood", 4096).await?;
    reader.wait_synced().await?;
    let mut writer = server.connect_synced("flood").await?;
    let start = std::time::Instant::now();
    for number in 0..128usize {
        writer.append_text(&"x".repeat(65536)).await?;
        let _ = number;
    }
    eprintln!("sent in {:?}", start.elapsed());
    writer.wait_for_server_to_catch_up().await?;
    eprintln!("caught up in {:?}", start.elapsed());
    let before = reader.received_frames().len();
    loop {
        match reader.next_event().await {
            Ok(Event::Frame(f)) => eprintln!("frame {} bytes", f.len()),
            Ok(other) => { eprintln!("{other:?}"); break }
            Err(e) => { eprintln!("error {e:#} after {} frames", reader.received_frames().len() - before); break }
        }
    }
    Ok(())
}
