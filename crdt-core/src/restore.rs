//! Restoring a version: the new edits that make a document's content equal a version's.
//!
//! Restoring is not a rollback. The document keeps its history, and the restore is one more
//! transaction of ordinary edits, so clients that edited concurrently merge it like any other
//! change and keep their own edits. To keep such merges friendly the edits are small: what
//! already matches is left alone (restoring the current state changes nothing), and only what
//! differs is rewritten:
//!
//! - a text (or XML text) keeps its common prefix and suffix of characters with their
//!   formatting; the middle is deleted and the version's middle inserted with its formatting;
//! - a map (or XML attributes) loses the keys the version lacks and gets the values that differ;
//!   a nested shared type of the same kind is restored in place, anything else is replaced;
//! - an array (or XML children) keeps its common prefix and suffix of deeply equal elements and
//!   replaces the middle with copies of the version's elements;
//! - a root the version lacks or has empty is emptied; a root the version holds as another kind
//!   is emptied and refilled.
//!
//! Roots arrive from updates without a kind (Yjs updates do not record one), so both sides are
//! read with [`crate::export`]'s inference: a root is restored as what an export shows it as.
//! Nested types carry their kind in updates. Text offsets are counted in the document's
//! [`OffsetKind`] (UTF-8 bytes for yrs's default, which the room uses), never assumed.
//!
//! Copies are built by inserting an empty shared type and restoring into it, so nested content
//! (Any-valued XML attributes included) is copied exactly. The exceptions are shared types
//! embedded *in a text*, copied with yrs's `as_prelim`, which turns their XML attributes into
//! strings, and an embed that is itself a string, which a text's diff cannot tell from text.
//!
//! Layout: this file walks roots, maps and sequences; `text` restores texts; `equality`
//! compares values across the two documents.

use std::collections::{HashMap, HashSet};

use yrs::branch::{Branch, BranchPtr};
use yrs::types::text::DeltaPrelim;
use yrs::types::xml::XmlDeltaPrelim;
use yrs::types::{AsPrelim, TypeRef};
use yrs::{
    Array, ArrayPrelim, ArrayRef, Doc, In, Map, MapPrelim, MapRef, OffsetKind, Options, Out,
    ReadTxn, Root, RootRef, SharedRef, Transact, Transaction, TransactionMut, XmlElementPrelim,
    XmlFragmentPrelim,
};

use crate::export::{RootKind, kind_of, root_branches};

mod equality;
mod text;

use equality::same_any;

/// Edits the document `transaction` belongs to so that its content equals `version`'s, within
/// `transaction`. Whether anything changed is `transaction.has_changes()` (for a transaction
/// that held no changes before), and `transaction.encode_update_v1()` is the restore as an
/// update. `version` must be another document: it is read while `transaction` is open.
pub fn restore_into(transaction: &mut TransactionMut, version: &Doc) {
    let version_transaction = version.transact();
    let offset_kind = transaction.doc().offset_kind();
    let mut restorer = Restorer {
        transaction,
        version: &version_transaction,
        offset_kind,
    };
    restorer.restore_roots();
}

/// A root reached without declaring a kind, the way roots arrive from updates. Creating a
/// missing root through it keeps the room's document like one built from updates only, so the
/// new root's kind is inferred from its content like every other root's.
struct UntypedRoot(BranchPtr);

impl From<BranchPtr> for UntypedRoot {
    fn from(branch: BranchPtr) -> Self {
        UntypedRoot(branch)
    }
}

impl AsRef<Branch> for UntypedRoot {
    fn as_ref(&self) -> &Branch {
        &self.0
    }
}

impl SharedRef for UntypedRoot {}

impl RootRef for UntypedRoot {
    fn type_ref() -> TypeRef {
        TypeRef::Undefined
    }
}

/// The two documents of one restore: the one being edited and the version being read.
struct Restorer<'restore, 'current, 'version> {
    transaction: &'restore mut TransactionMut<'current>,
    version: &'restore Transaction<'version>,
    offset_kind: OffsetKind,
}

impl Restorer<'_, '_, '_> {
    fn restore_roots(&mut self) {
        let mut current: HashMap<String, BranchPtr> =
            root_branches(&*self.transaction).into_iter().collect();
        let mut wanted = root_branches(self.version);
        // Sorted so a restore always makes the same edits in the same order.
        wanted.sort_by(|left, right| left.0.cmp(&right.0));
        for (name, source) in wanted {
            let kind = kind_of(source, self.version);
            match current.remove(&name) {
                Some(target) => {
                    let current_kind = kind_of(target, &*self.transaction);
                    // Content of another kind (or any content, when the version's root is
                    // empty) goes first; an empty root has nothing to remove.
                    if current_kind != kind && current_kind != RootKind::Empty {
                        self.clear(target, current_kind);
                    }
                    self.restore_branch(target, source, kind);
                }
                None if kind == RootKind::Empty => {}
                None => {
                    let root = Root::<UntypedRoot>::new(name).get_or_create(self.transaction);
                    self.restore_branch(root.0, source, kind);
                }
            }
        }
        let mut leftover: Vec<(String, BranchPtr)> = current.into_iter().collect();
        leftover.sort_by(|left, right| left.0.cmp(&right.0));
        for (_, target) in leftover {
            let kind = kind_of(target, &*self.transaction);
            self.clear(target, kind);
        }
    }

    /// Restores `target` as a `kind` from `source`, the version's branch of that kind.
    fn restore_branch(&mut self, target: BranchPtr, source: BranchPtr, kind: RootKind) {
        match kind {
            RootKind::Text => self.restore_text(target, source),
            RootKind::XmlText => {
                self.restore_map(target, source);
                self.restore_text(target, source);
            }
            RootKind::Map => self.restore_map(target, source),
            RootKind::Array | RootKind::XmlFragment => self.restore_sequence(target, source),
            RootKind::XmlElement => {
                self.restore_map(target, source);
                self.restore_sequence(target, source);
            }
            RootKind::Empty => {}
        }
    }

    /// Empties `target`, read as a `kind`: what an export of it would show goes.
    fn clear(&mut self, target: BranchPtr, kind: RootKind) {
        if matches!(
            kind,
            RootKind::Map | RootKind::XmlElement | RootKind::XmlText
        ) {
            let map = MapRef::from(target);
            let keys: Vec<String> = map.keys(&*self.transaction).map(str::to_owned).collect();
            for key in keys {
                map.remove(self.transaction, &key);
            }
        }
        if !matches!(kind, RootKind::Map | RootKind::Empty) {
            self.clear_sequence(target);
        }
    }

    /// Deletes every visible item of `target`'s sequence, whatever it holds. The array walker
    /// counts items the way the branch's own length does, so this cannot run out of items.
    fn clear_sequence(&mut self, target: BranchPtr) {
        let length = target.content_len();
        if length > 0 {
            ArrayRef::from(target).remove_range(self.transaction, 0, length);
        }
    }

    /// Restores `current` from `wanted` where it stands, if both are the same kind of value;
    /// false when `current` has to be replaced instead.
    fn restore_value(&mut self, current: &Out, wanted: &Out) -> bool {
        match (current, wanted) {
            (Out::Any(current), Out::Any(wanted)) => same_any(current, wanted),
            (Out::YText(current), Out::YText(wanted)) => {
                self.restore_text(branch(current), branch(wanted));
                true
            }
            (Out::YMap(current), Out::YMap(wanted)) => {
                self.restore_map(branch(current), branch(wanted));
                true
            }
            (Out::YArray(current), Out::YArray(wanted)) => {
                self.restore_sequence(branch(current), branch(wanted));
                true
            }
            (Out::YXmlElement(current), Out::YXmlElement(wanted))
                if current.try_tag() == wanted.try_tag() =>
            {
                self.restore_map(branch(current), branch(wanted));
                self.restore_sequence(branch(current), branch(wanted));
                true
            }
            (Out::YXmlFragment(current), Out::YXmlFragment(wanted)) => {
                self.restore_sequence(branch(current), branch(wanted));
                true
            }
            (Out::YXmlText(current), Out::YXmlText(wanted)) => {
                self.restore_map(branch(current), branch(wanted));
                self.restore_text(branch(current), branch(wanted));
                true
            }
            (Out::YDoc(current), Out::YDoc(wanted)) => current.guid() == wanted.guid(),
            _ => false,
        }
    }

    /// What to insert to start a copy of `wanted`: the value itself, or an empty shared type of
    /// its kind that [`Self::restore_value`] then fills.
    fn shell(&self, wanted: &Out) -> In {
        match wanted {
            Out::Any(value) => In::Any(value.clone()),
            Out::YText(_) => In::Text(DeltaPrelim::default()),
            Out::YMap(_) => In::Map(MapPrelim::default()),
            Out::YArray(_) => In::Array(ArrayPrelim::default()),
            Out::YXmlElement(element) => In::XmlElement(XmlElementPrelim::empty(
                element.try_tag().cloned().unwrap_or_default(),
            )),
            Out::YXmlFragment(_) => In::XmlFragment(XmlFragmentPrelim::default()),
            Out::YXmlText(_) => In::XmlText(XmlDeltaPrelim::default()),
            // A subdocument is a reference by guid; the version's own instance belongs to the
            // version document, so a new one with the same identity is inserted.
            Out::YDoc(document) => In::Doc(Doc::with_options(Options {
                guid: document.guid(),
                collection_id: document.collection_id(),
                should_load: document.should_load(),
                auto_load: document.auto_load(),
                ..Options::default()
            })),
            other => other.as_prelim(self.version),
        }
    }

    fn restore_map(&mut self, target: BranchPtr, source: BranchPtr) {
        let map = MapRef::from(target);
        let current = map_entries(target, &*self.transaction);
        let mut wanted: Vec<(String, Out)> =
            map_entries(source, self.version).into_iter().collect();
        wanted.sort_by(|left, right| left.0.cmp(&right.0));
        let wanted_keys: HashSet<&str> = wanted.iter().map(|(key, _)| key.as_str()).collect();
        let mut stale: Vec<&String> = current
            .keys()
            .filter(|key| !wanted_keys.contains(key.as_str()))
            .collect();
        stale.sort();
        for key in stale {
            map.remove(self.transaction, key);
        }
        for (key, value) in &wanted {
            let restored = current
                .get(key)
                .is_some_and(|existing| self.restore_value(existing, value));
            if !restored {
                let shell = self.shell(value);
                let inserted = map.insert(self.transaction, key.as_str(), shell);
                self.restore_value(&inserted, value);
            }
        }
    }

    /// Restores an array or an XML node's children. Both are read and written as arrays: an
    /// XML child is just an element that is an XML node, and reading XML children through
    /// `XmlFragment::children` would stop at the first one that is not.
    fn restore_sequence(&mut self, target: BranchPtr, source: BranchPtr) {
        let mut current = sequence(target, &*self.transaction);
        if current.len() != target.content_len() as usize {
            // The branch holds items this kind does not read (another kind's content), so
            // positions cannot be matched: start from empty.
            self.clear_sequence(target);
            current.clear();
        }
        let wanted = sequence(source, self.version);
        let (prefix, suffix) = common_ends(current.len(), wanted.len(), |at, wanted_at| {
            self.same_value(&current[at], &wanted[wanted_at])
        });
        let removed = current.len() - prefix - suffix;
        if removed > 0 {
            ArrayRef::from(target).remove_range(self.transaction, prefix as u32, removed as u32);
        }
        for (offset, value) in wanted[prefix..wanted.len() - suffix].iter().enumerate() {
            let shell = self.shell(value);
            let index = (prefix + offset) as u32;
            let inserted = ArrayRef::from(target).insert(self.transaction, index, shell);
            self.restore_value(&inserted, value);
        }
    }
}

/// The elements of an array or the children of an XML node, in order.
fn sequence<T: ReadTxn>(branch: BranchPtr, transaction: &T) -> Vec<Out> {
    ArrayRef::from(branch).iter(transaction).collect()
}

/// How many leading and trailing positions two sequences share, the two never overlapping.
fn common_ends(
    current_length: usize,
    wanted_length: usize,
    same: impl Fn(usize, usize) -> bool,
) -> (usize, usize) {
    let shorter = current_length.min(wanted_length);
    let prefix = (0..shorter).take_while(|&at| same(at, at)).count();
    let suffix = (1..=shorter - prefix)
        .take_while(|&back| same(current_length - back, wanted_length - back))
        .count();
    (prefix, suffix)
}

fn map_entries<T: ReadTxn>(branch: BranchPtr, transaction: &T) -> HashMap<String, Out> {
    MapRef::from(branch)
        .iter(transaction)
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

fn branch(shared: &impl AsRef<Branch>) -> BranchPtr {
    BranchPtr::from(shared.as_ref())
}
