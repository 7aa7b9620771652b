//! Real Yjs updates, made and read with `yrs` as a client would.

use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, GetString, Map, ReadTxn, StateVector, Text, Transact, Update};

/// The root text the API's plain-text export finds when a document has only one.
pub const TEXT_ROOT: &str = "text";

/// A Yjs document edited locally, handing out each edit as the update a client would send.
pub struct Editor {
    doc: Doc,
}

impl Editor {
    /// An empty document.
    pub fn new() -> Self {
        Editor { doc: Doc::new() }
    }

    /// An empty document whose edits are made by Yjs client `client_id`.
    pub fn with_client_id(client_id: u64) -> Self {
        Editor {
            doc: Doc::with_client_id(client_id),
        }
    }

    /// Inserts `chunk` at `index` of the root text [`TEXT_ROOT`]; the edit as a v1 update.
    pub fn insert(&self, index: u32, chunk: &str) -> Vec<u8> {
        self.insert_into(TEXT_ROOT, index, chunk)
    }

    /// Inserts `chunk` at `index` of root text `root`; the edit as a v1 update.
    pub fn insert_into(&self, root: &str, index: u32, chunk: &str) -> Vec<u8> {
        let before = self.state_vector();
        let text = self.doc.get_or_insert_text(root);
        text.insert(&mut self.doc.transact_mut(), index, chunk);
        self.update_since(&before)
    }

    /// Replaces the whole of [`TEXT_ROOT`] with `content`; the edit as a v1 update.
    pub fn replace_text(&self, content: &str) -> Vec<u8> {
        let before = self.state_vector();
        let text = self.doc.get_or_insert_text(TEXT_ROOT);
        let mut transaction = self.doc.transact_mut();
        let length = text.len(&transaction);
        text.remove_range(&mut transaction, 0, length);
        text.insert(&mut transaction, 0, content);
        drop(transaction);
        self.update_since(&before)
    }

    /// Sets `key` to `value` in root map `root`; the edit as a v1 update.
    pub fn set_in_map(&self, root: &str, key: &str, value: &str) -> Vec<u8> {
        let before = self.state_vector();
        let map = self.doc.get_or_insert_map(root);
        map.insert(&mut self.doc.transact_mut(), key, value);
        self.update_since(&before)
    }

    /// Everything this document has that a copy at `state` lacks, as a v1 update.
    pub fn update_since(&self, state: &StateVector) -> Vec<u8> {
        self.doc.transact().encode_state_as_update_v1(state)
    }

    /// Everything this document has that a copy at `state` lacks, as a v2 update.
    pub fn update_v2_since(&self, state: &StateVector) -> Vec<u8> {
        self.doc.transact().encode_state_as_update_v2(state)
    }

    /// The whole document as one v1 update.
    pub fn whole_update(&self) -> Vec<u8> {
        self.update_since(&StateVector::default())
    }

    /// What this document has seen, per client.
    pub fn state_vector(&self) -> StateVector {
        self.doc.transact().state_vector()
    }

    /// The state vector as `Y.encodeStateVector` encodes it.
    pub fn encoded_state_vector(&self) -> Vec<u8> {
        self.state_vector().encode_v1()
    }

    /// Applies a v1 update, as a client receiving it would.
    pub fn apply(&self, update: &[u8]) {
        let update = Update::decode_v1(update).expect("the server sends valid v1 updates");
        self.doc
            .transact_mut()
            .apply_update(update)
            .expect("the update applies");
    }

    /// Applies a v2 update.
    pub fn apply_v2(&self, update: &[u8]) {
        let update = Update::decode_v2(update).expect("the server sends valid v2 updates");
        self.doc
            .transact_mut()
            .apply_update(update)
            .expect("the update applies");
    }

    /// The content of [`TEXT_ROOT`].
    pub fn text(&self) -> String {
        let text = self.doc.get_or_insert_text(TEXT_ROOT);
        text.get_string(&self.doc.transact())
    }
}

/// The content of [`TEXT_ROOT`] in the document a v1 `update` builds from nothing.
pub fn text_of_update(update: &[u8]) -> String {
    let editor = Editor::new();
    editor.apply(update);
    editor.text()
}
