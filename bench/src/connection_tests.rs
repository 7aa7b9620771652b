//! How a connector names the URLs its clients open.

use super::*;

#[test]
fn y_websocket_puts_the_room_in_the_path_and_hocuspocus_does_not() {
    let quire = Connector::new(
        &["ws://127.0.0.1:4000".to_owned()],
        "/ws/",
        Protocol::YWebsocket,
        Some("t0k".to_owned()),
        Vec::new(),
    )
    .unwrap();
    assert_eq!(
        quire.url_on(0, "a-room"),
        "ws://127.0.0.1:4000/ws/a-room?token=t0k"
    );
    let hocuspocus = Connector::new(
        &["ws://127.0.0.1:4000/".to_owned()],
        "/hocuspocus",
        Protocol::Hocuspocus,
        Some("t0k".to_owned()),
        Vec::new(),
    )
    .unwrap();
    assert_eq!(
        hocuspocus.url_on(0, "a-room"),
        "ws://127.0.0.1:4000/hocuspocus"
    );
    assert!(matches!(
        Connector::new(
            &["http://x".to_owned()],
            "/",
            Protocol::YWebsocket,
            None,
            Vec::new()
        ),
        Err(ConnectError::Url(_))
    ));
}

#[test]
fn the_nodes_of_a_cluster_are_joined_in_turn() {
    let cluster = Connector::new(
        &[
            "ws://127.0.0.1:4001".to_owned(),
            "ws://127.0.0.1:4002".to_owned(),
        ],
        "/ws/",
        Protocol::YWebsocket,
        None,
        Vec::new(),
    )
    .unwrap();
    let urls: Vec<String> = (0..3).map(|node| cluster.url_on(node, "r")).collect();
    assert_eq!(
        urls,
        [
            "ws://127.0.0.1:4001/ws/r",
            "ws://127.0.0.1:4002/ws/r",
            "ws://127.0.0.1:4001/ws/r"
        ]
    );
}
