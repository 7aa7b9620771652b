//! Restoring a text (or the text of an XML text): the version's characters and formatting,
//! written as one delta that keeps the common prefix and suffix and rewrites only the middle.
//!
//! A text is compared as a sequence of units, one per character or embed, each with the
//! formatting it carries: equal characters with different formatting differ, so restoring a
//! version brings its formatting back. Lengths are counted in the document's offset unit, the
//! way a text's indexes are: UTF-8 bytes for yrs's default `OffsetKind::Bytes`, UTF-16 code
//! units for `Utf16`. Counting characters instead would misplace every edit after the first
//! non-ASCII character.

use yrs::branch::BranchPtr;
use yrs::types::text::{Diff, YChange};
use yrs::types::{AsPrelim, Attrs, Delta};
use yrs::{Any, In, OffsetKind, Out, ReadTxn, Text, TextRef};

use super::{Restorer, common_ends, same_any};

impl Restorer<'_, '_, '_> {
    pub(super) fn restore_text(&mut self, target: BranchPtr, source: BranchPtr) {
        let wanted = TextContent::read(source, self.version);
        let mut current = TextContent::read(target, &*self.transaction);
        if self.length(&current.units) != target.content_len() {
            // Items a text's diff does not show (another kind's content) would throw the
            // offsets off: start from empty.
            self.clear_sequence(target);
            current = TextContent::default();
        }
        let (prefix, suffix) = common_ends(current.units.len(), wanted.units.len(), |at, other| {
            self.same_unit(&current, current.units[at], &wanted, wanted.units[other])
        });
        let removed = &current.units[prefix..current.units.len() - suffix];
        let added = &wanted.units[prefix..wanted.units.len() - suffix];
        if removed.is_empty() && added.is_empty() {
            return;
        }
        let mut delta: Vec<Delta<In>> = Vec::new();
        let retained = self.length(&current.units[..prefix]);
        if retained > 0 {
            delta.push(Delta::Retain(retained, None));
        }
        let removed = self.length(removed);
        if removed > 0 {
            delta.push(Delta::Deleted(removed));
        }
        let mut run = String::new();
        for (position, unit) in added.iter().enumerate() {
            let attributes = wanted.chunks[unit.chunk].attributes.clone();
            match unit.character {
                Some(character) => {
                    run.push(character);
                    // A run ends where its chunk (and so its formatting) does.
                    if added
                        .get(position + 1)
                        .is_none_or(|next| next.chunk != unit.chunk)
                    {
                        let text = Any::String(std::mem::take(&mut run).into());
                        delta.push(Delta::Inserted(In::Any(text), attributes));
                    }
                }
                None => {
                    let embed = wanted.chunks[unit.chunk].insert.as_prelim(self.version);
                    delta.push(Delta::Inserted(embed, attributes));
                }
            }
        }
        TextRef::from(target).apply_delta(self.transaction, delta);
    }

    /// Length of `units` in the document's offset unit, as a text's indexes count it.
    fn length(&self, units: &[TextUnit]) -> u32 {
        let length: usize = units
            .iter()
            .map(|unit| match (unit.character, self.offset_kind) {
                (Some(character), OffsetKind::Bytes) => character.len_utf8(),
                (Some(character), OffsetKind::Utf16) => character.len_utf16(),
                (None, _) => 1,
            })
            .sum();
        length as u32
    }

    pub(super) fn same_unit(
        &self,
        current: &TextContent,
        current_unit: TextUnit,
        wanted: &TextContent,
        wanted_unit: TextUnit,
    ) -> bool {
        let same_content = match (current_unit.character, wanted_unit.character) {
            (Some(current), Some(wanted)) => current == wanted,
            (None, None) => self.same_value(
                &current.chunks[current_unit.chunk].insert,
                &wanted.chunks[wanted_unit.chunk].insert,
            ),
            _ => false,
        };
        same_content
            && same_attributes(
                current.chunks[current_unit.chunk].attributes.as_deref(),
                wanted.chunks[wanted_unit.chunk].attributes.as_deref(),
            )
    }
}

/// A text's visible content: its diff chunks, and one unit per character or embed in them.
#[derive(Default)]
pub(super) struct TextContent {
    chunks: Vec<Diff<YChange>>,
    pub(super) units: Vec<TextUnit>,
}

/// One character or embed of a text, pointing at the chunk holding its formatting.
#[derive(Clone, Copy)]
pub(super) struct TextUnit {
    chunk: usize,
    /// The character, or `None` for an embed (which is its chunk's whole insert).
    character: Option<char>,
}

impl TextContent {
    pub(super) fn read<T: ReadTxn>(branch: BranchPtr, transaction: &T) -> Self {
        let chunks = TextRef::from(branch).diff(transaction, YChange::identity);
        let mut units = Vec::new();
        for (chunk, diff) in chunks.iter().enumerate() {
            match &diff.insert {
                Out::Any(Any::String(text)) => {
                    units.extend(text.chars().map(|character| TextUnit {
                        chunk,
                        character: Some(character),
                    }))
                }
                _ => units.push(TextUnit {
                    chunk,
                    character: None,
                }),
            }
        }
        TextContent { chunks, units }
    }
}

/// Whether two units carry the same formatting (no formatting reads as `None`).
fn same_attributes(current: Option<&Attrs>, wanted: Option<&Attrs>) -> bool {
    match (current, wanted) {
        (None, None) => true,
        (Some(current), Some(wanted)) => {
            current.len() == wanted.len()
                && current
                    .iter()
                    .all(|(key, value)| wanted.get(key).is_some_and(|other| same_any(value, other)))
        }
        _ => false,
    }
}
