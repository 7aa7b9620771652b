//! Codec tests: frames built the way `@hocuspocus/provider` 4.x builds them, decoded; Quire's
//! answers decoded the way the provider reads them; malformed input refused with a reason.

use super::*;
use yrs::StateVector;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;

/// A frame as the provider writes it: address, message type, content.
fn provider_frame(address: &str, message_type: u8, content: &[u8]) -> Bytes {
    let mut frame = Vec::new();
    frame.write_string(address);
    frame.write_var(message_type);
    frame.extend_from_slice(content);
    Bytes::from(frame)
}

/// A y-protocols message addressed to `address`, as the provider sends sync and awareness.
fn provider_room_frame(address: &str, message: &Message) -> (Bytes, Vec<u8>) {
    let encoded = message.encode_v1();
    let mut frame = Vec::new();
    frame.write_string(address);
    frame.extend_from_slice(&encoded);
    (Bytes::from(frame), encoded)
}

fn decode_document(frame: &Bytes) -> (String, DocumentMessage) {
    match decode_client_frame(frame).expect("a valid frame") {
        ClientFrame::Document { address, message } => (address, message),
        other => panic!("expected a document message, got {other:?}"),
    }
}

#[test]
fn sync_and_awareness_messages_reach_the_room_as_y_protocols_frames() {
    let cases = [
        (
            Message::Sync(SyncMessage::SyncStep1(StateVector::default())),
            RoomMessage::SyncStep1,
        ),
        (
            Message::Sync(SyncMessage::SyncStep2(vec![0, 0])),
            RoomMessage::SyncStep2,
        ),
        (
            Message::Sync(SyncMessage::Update(vec![0, 0])),
            RoomMessage::Update,
        ),
        (
            Message::Awareness(yrs::sync::awareness::AwarenessUpdate {
                clients: Default::default(),
            }),
            RoomMessage::Awareness,
        ),
        (Message::AwarenessQuery, RoomMessage::QueryAwareness),
    ];
    for (message, expected_kind) in cases {
        let (frame, encoded) = provider_room_frame("notes", &message);
        let (address, decoded) = decode_document(&frame);
        assert_eq!(address, "notes");
        let DocumentMessage::Room { kind, frame } = decoded else {
            panic!("{message:?} should go to the room");
        };
        assert_eq!(kind, expected_kind);
        assert_eq!(
            frame.as_ref(),
            encoded.as_slice(),
            "the bytes after the address"
        );
    }
    assert!(RoomMessage::Update.writes() && RoomMessage::SyncStep2.writes());
    assert!(!RoomMessage::SyncStep1.writes() && !RoomMessage::Awareness.writes());
}

#[test]
fn auth_carries_the_token_with_or_without_the_provider_version() {
    let mut with_version = Vec::new();
    with_version.write_var(0u8);
    with_version.write_string("secret-token");
    with_version.write_string("4.8.0");
    let (address, message) = decode_document(&provider_frame("notes", 2, &with_version));
    assert_eq!(address, "notes");
    assert_eq!(
        message,
        DocumentMessage::Auth {
            token: "secret-token".into()
        }
    );

    let mut without_version = Vec::new();
    without_version.write_var(0u8);
    without_version.write_string("");
    let (_, message) = decode_document(&provider_frame("notes", 2, &without_version));
    assert_eq!(message, DocumentMessage::Auth { token: "".into() });

    // Authenticated from a client is meaningless: ignored, not an error.
    let mut server_only = Vec::new();
    server_only.write_var(2u8);
    server_only.write_string("read-write");
    let (_, message) = decode_document(&provider_frame("notes", 2, &server_only));
    assert_eq!(message, DocumentMessage::Ignored { message_type: 2 });
}

#[test]
fn stateless_close_keepalives_and_unknown_types() {
    let mut payload = Vec::new();
    payload.write_string(r#"{"saved":true}"#);
    let frame = provider_frame("team/plan\0session-1", 5, &payload);
    let (address, message) = decode_document(&frame);
    assert_eq!(
        address, "team/plan\0session-1",
        "session addresses are kept whole"
    );
    let DocumentMessage::Stateless { frame: relayed } = message else {
        panic!("expected stateless");
    };
    assert_eq!(relayed[0], MESSAGE_STATELESS);
    assert_eq!(&relayed[1..], payload.as_slice());

    assert_eq!(
        decode_document(&provider_frame("notes", 7, &[])).1,
        DocumentMessage::Close
    );
    assert_eq!(
        decode_client_frame(&Bytes::from_static(&[9])).unwrap(),
        ClientFrame::Ping
    );
    assert_eq!(
        decode_client_frame(&Bytes::from_static(&[10])).unwrap(),
        ClientFrame::Pong
    );
    for message_type in [4u8, 6, 8, 200] {
        assert_eq!(
            decode_document(&provider_frame("notes", message_type, &[])).1,
            DocumentMessage::Ignored {
                message_type: u64::from(message_type)
            }
        );
    }
}

#[test]
fn malformed_frames_are_refused_with_a_reason() {
    let sync_step1 = provider_room_frame(
        "notes",
        &Message::Sync(SyncMessage::SyncStep1(StateVector::default())),
    )
    .0;
    let mut trailing = sync_step1.to_vec();
    trailing.push(0);
    let mut bad_utf8_address = Vec::new();
    bad_utf8_address.write_buf([0xff, 0xfe]);
    bad_utf8_address.write_var(3u8);
    let mut bad_utf8_stateless = Vec::new();
    bad_utf8_stateless.write_buf([0xc3]);

    let cases: Vec<(Bytes, &str)> = vec![
        (Bytes::new(), "empty frame"),
        (
            Bytes::from_static(&[5, b'n', b'o']),
            "malformed document name",
        ),
        (Bytes::from(bad_utf8_address), "malformed document name"),
        (
            Bytes::from_static(&[5, b'n', b'o', b't', b'e', b's']),
            "malformed message type",
        ),
        (provider_frame("notes", 0, &[7, 0]), "unknown sync step 7"),
        (
            provider_frame("notes", 0, &[2, 10, 1]),
            "malformed sync message",
        ),
        (
            provider_frame("notes", 1, &[]),
            "malformed awareness message",
        ),
        (
            Bytes::from(trailing),
            "1 bytes after the end of a sync message",
        ),
        (
            provider_frame("notes", 3, &[1, 2]),
            "2 bytes after the end of a awareness query message",
        ),
        (provider_frame("notes", 2, &[0]), "malformed auth message"),
        (
            provider_frame("notes", 5, &bad_utf8_stateless),
            "malformed stateless message",
        ),
    ];
    for (frame, expected) in cases {
        let error = decode_client_frame(&frame).expect_err(expected);
        assert!(
            error.to_string().starts_with(expected),
            "{frame:?}: {error} should start with {expected}"
        );
    }
}

#[test]
fn every_truncation_of_a_valid_frame_decodes_or_errs_without_panicking() {
    let mut content = Vec::new();
    content.write_var(2u8);
    content.write_buf([1, 2, 3, 4, 5]);
    let frame = provider_frame("a document", 0, &content);
    for end in 0..frame.len() {
        let _ = decode_client_frame(&frame.slice(..end));
    }
    assert!(decode_client_frame(&frame).is_ok());
}

#[test]
fn answers_decode_as_the_provider_reads_them() {
    let prefix = encode_address("team/plan\0s1");

    let read_header = |frame: &Bytes| {
        let mut cursor = Cursor::new(frame.as_ref());
        let address = cursor.read_string().unwrap().to_owned();
        let message_type: u8 = cursor.read_var().unwrap();
        (address, message_type, frame.slice(cursor.next..))
    };

    let (address, message_type, rest) = read_header(&authenticated(&prefix, Access::ReadOnly));
    assert_eq!((address.as_str(), message_type), ("team/plan\0s1", 2));
    let mut cursor = Cursor::new(rest.as_ref());
    assert_eq!(cursor.read_var::<u8>().unwrap(), 2, "Authenticated");
    assert_eq!(cursor.read_string().unwrap(), "readonly");

    let (_, _, rest) = read_header(&authenticated(&prefix, Access::ReadWrite));
    let mut cursor = Cursor::new(rest.as_ref());
    cursor.read_var::<u8>().unwrap();
    assert_eq!(cursor.read_string().unwrap(), "read-write");

    let (_, message_type, rest) = read_header(&permission_denied(&prefix, "no token"));
    assert_eq!(message_type, 2);
    let mut cursor = Cursor::new(rest.as_ref());
    assert_eq!(cursor.read_var::<u8>().unwrap(), 1, "PermissionDenied");
    assert_eq!(cursor.read_string().unwrap(), "no token");

    let (_, message_type, rest) = read_header(&close(&prefix, "document deleted"));
    assert_eq!(message_type, 7);
    assert_eq!(
        Cursor::new(rest.as_ref()).read_string().unwrap(),
        "document deleted"
    );

    let (_, message_type, rest) = read_header(&addressed(&prefix, &sync_status(true)));
    assert_eq!((message_type, rest.as_ref()), (8, &[1u8][..]));
    assert_eq!(sync_status(false).as_ref(), &[8, 0]);
    assert_eq!(pong().as_ref(), &[10]);
}

#[test]
fn addressing_a_room_frame_round_trips() {
    let message = Message::Sync(SyncMessage::Update(vec![1, 2, 3]));
    let encoded = message.encode_v1();
    let frame = addressed(&encode_address("日本語のメモ"), &encoded);
    let (address, decoded) = decode_document(&frame);
    assert_eq!(address, "日本語のメモ");
    assert_eq!(
        decoded,
        DocumentMessage::Room {
            kind: RoomMessage::Update,
            frame: Bytes::from(encoded)
        }
    );
}
