//! Letting go of a document that holds sub-documents.
//!
//! yrs 0.28 keeps, inside every sub-document item it integrates, a strong reference to the
//! document holding it (`ItemContent::Doc`'s parent): the document owns the item and the item
//! owns the document, so such a document is never freed. A room that loads, sleeps and reloads
//! one leaks the whole document each time (2.7 KB for a document of one sub-document, measured;
//! `tests/room_memory.rs`), which a client could repeat at will. Deleting those items breaks the
//! cycle: garbage collection then drops their content. A room does that as it is dropped, when
//! nothing it does is stored or sent any more; so should anyone else dropping such a document.

use std::collections::BTreeMap;

use yrs::branch::BranchID;
use yrs::encoding::write::Write;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::{Encoder, EncoderV1};
use yrs::{Doc, ReadTxn, Transact, Update};

/// Deletes every sub-document item `doc` holds, so the document can be freed. For a document
/// about to be dropped: what it does to the content is never stored or sent.
pub fn release_subdocuments(doc: &Doc) {
    let mut items: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for subdocument in doc.transact().subdocs() {
        if let Some(BranchID::Nested(id)) = subdocument.branch_id() {
            items.entry(id.client.get()).or_default().push(id.clock);
        }
    }
    if items.is_empty() {
        return;
    }
    // An update of no blocks whose delete set is exactly those items, one clock each.
    let mut encoder = EncoderV1::new();
    encoder.write_var(0u32);
    encoder.write_var(items.len() as u32);
    for (client, clocks) in items {
        encoder.write_var(client);
        encoder.write_var(clocks.len() as u32);
        for clock in clocks {
            encoder.write_var(clock);
            encoder.write_var(1u32);
        }
    }
    if let Ok(update) = Update::decode_v1(&encoder.to_vec()) {
        let _ = doc.transact_mut().apply_update(update);
    }
}
