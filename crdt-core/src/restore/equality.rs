//! Deep equality between a value of the document being restored and one of the version.
//!
//! Arrays and XML children keep their common prefix and suffix, so elements must be compared
//! across the two documents: same kind, same content, formatting and XML attributes included.
//! Reading both through JSON would not do: a text's JSON drops its formatting, and XML renders
//! attributes in hash order, so equal elements could compare unequal and be rewritten by a
//! restore that should change nothing.

use yrs::branch::BranchPtr;
use yrs::{Any, Number, Out};

use super::text::TextContent;
use super::{Restorer, branch, map_entries, sequence};

impl Restorer<'_, '_, '_> {
    /// Deep equality of a value in the current document and one in the version: same kind,
    /// same content, formatting and XML attributes included.
    pub(super) fn same_value(&self, current: &Out, wanted: &Out) -> bool {
        let current_transaction = &*self.transaction;
        let same_map = |current: BranchPtr, wanted: BranchPtr| {
            let current = map_entries(current, current_transaction);
            let wanted = map_entries(wanted, self.version);
            current.len() == wanted.len()
                && current.iter().all(|(key, value)| {
                    wanted
                        .get(key)
                        .is_some_and(|other| self.same_value(value, other))
                })
        };
        let same_sequence = |current: BranchPtr, wanted: BranchPtr| {
            let current = sequence(current, current_transaction);
            let wanted = sequence(wanted, self.version);
            current.len() == wanted.len()
                && current
                    .iter()
                    .zip(&wanted)
                    .all(|(value, other)| self.same_value(value, other))
        };
        let same_text = |current: BranchPtr, wanted: BranchPtr| {
            let current = TextContent::read(current, current_transaction);
            let wanted = TextContent::read(wanted, self.version);
            current.units.len() == wanted.units.len()
                && current
                    .units
                    .iter()
                    .zip(&wanted.units)
                    .all(|(unit, other)| self.same_unit(&current, *unit, &wanted, *other))
        };
        match (current, wanted) {
            (Out::Any(current), Out::Any(wanted)) => same_any(current, wanted),
            (Out::YText(current), Out::YText(wanted)) => same_text(branch(current), branch(wanted)),
            (Out::YMap(current), Out::YMap(wanted)) => same_map(branch(current), branch(wanted)),
            (Out::YArray(current), Out::YArray(wanted)) => {
                same_sequence(branch(current), branch(wanted))
            }
            (Out::YXmlElement(current), Out::YXmlElement(wanted)) => {
                current.try_tag() == wanted.try_tag()
                    && same_map(branch(current), branch(wanted))
                    && same_sequence(branch(current), branch(wanted))
            }
            (Out::YXmlFragment(current), Out::YXmlFragment(wanted)) => {
                same_sequence(branch(current), branch(wanted))
            }
            (Out::YXmlText(current), Out::YXmlText(wanted)) => {
                same_map(branch(current), branch(wanted))
                    && same_text(branch(current), branch(wanted))
            }
            (Out::YDoc(current), Out::YDoc(wanted)) => current.guid() == wanted.guid(),
            _ => false,
        }
    }
}

/// JSON-like equality, except that NaN equals NaN: a value that cannot equal itself would be
/// rewritten by every restore.
pub(super) fn same_any(current: &Any, wanted: &Any) -> bool {
    match (current, wanted) {
        (Any::Number(Number::Float(current)), Any::Number(Number::Float(wanted))) => {
            current == wanted || (current.is_nan() && wanted.is_nan())
        }
        (Any::Array(current), Any::Array(wanted)) => {
            current.len() == wanted.len()
                && current
                    .iter()
                    .zip(wanted.iter())
                    .all(|(value, other)| same_any(value, other))
        }
        (Any::Map(current), Any::Map(wanted)) => {
            current.len() == wanted.len()
                && current
                    .iter()
                    .all(|(key, value)| wanted.get(key).is_some_and(|other| same_any(value, other)))
        }
        _ => current == wanted,
    }
}
