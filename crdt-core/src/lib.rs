//! Sans-IO heart of Quire: the Yjs room state machine.
//!
//! Everything here is plain, synchronous Rust on top of `yrs` and `yrs::sync`: no sockets, no
//! runtime, no storage. The server feeds bytes in (`Room::handle_*`) and drains what must be sent
//! or stored (`Room::poll_outgoing`), which keeps the protocol logic testable without a network
//! and lets one core serve several transports (y-websocket and Hocuspocus framing).
//!
//! Layout:
//! - [`room`]: the per-document state machine (sync, updates, read-only refusal); its
//!   `deferred_load` holds a stored snapshot unapplied, answering joiners until the document is
//!   needed.
//! - [`presence`]: awareness bookkeeping: who controls which awareness client, expiry.
//! - `full_state`: the whole document as one SyncStep2 frame, encoded once for every joiner.
//! - `item_parents`: the type each item belongs in, to refuse items yrs and Yjs would place
//!   differently.
//! - `pending`: what a document holds back for missing dependencies; decoding untrusted updates.
//! - [`subdocuments`]: freeing a document that holds sub-documents (a yrs reference cycle).
//! - [`untrusted`]: walking encodings from peers and disks before yrs decodes them, so no
//!   length or count in them is trusted.
//! - [`wire`]: decoding frames into y-protocols messages and encoding one message per frame.
//! - [`members`]: who is in a room whose document was let go of while they stay connected.
//! - [`merge`]: merging a batch of updates into one before it is stored.
//! - [`export`]: reading a document out as updates, JSON or text, inferring undefined roots.
//! - [`restore`]: making a document's content equal a stored version's with new edits.
//! - [`rich_text`]: a y-prosemirror/Tiptap document (an XML fragment) as ProseMirror JSON,
//!   sanitised HTML or Markdown.
//! - [`client`]: the client side of the sync, sans-IO, for tests and Rust plugins.
//! - [`clock`]: the time source awareness expiry reads, injectable for tests.
//! - [`error`]: the typed errors malformed input turns into.
//! - [`close_code`]: the WebSocket close codes the server sends, and which are final.

pub mod client;
pub mod clock;
pub mod close_code;
#[cfg(test)]
mod crafted;
pub mod error;
pub mod export;
mod full_state;
mod item_parents;
pub mod members;
pub mod merge;
mod pending;
mod presence;
pub mod restore;
pub mod rich_text;
pub mod room;
pub mod subdocuments;
pub mod untrusted;
pub mod wire;

pub use client::{REMOTE_ORIGIN, SyncClient};
pub use clock::{ManualClock, SystemClock};
pub use error::ProtocolError;
pub use members::Members;
pub use room::{
    AWARENESS_TIMEOUT_MILLIS, Access, ConnectionId, MAX_WAITING_BYTES, MAX_WAITING_UPDATES,
    Outgoing, PeerId, Room,
};
