//! The behavioural suite every `DocStore` implementation must pass.
//!
//! Scenarios are plain functions over `&dyn TestStore`, written once; the
//! `for_every_store!` macro turns each into one `#[test]` per implementation
//! (`memory_store::name`, `sled_store::name`, `sled_store_folding::name` (sled whose append log
//! folds into sled every few appends) and `postgres_store::name`), so
//! the stores cannot drift apart in behaviour without a test saying which
//! scenario differs. Two groups run on the memory and sled stores only:
//! damage to sled's framed records (PostgreSQL stores raw values and has no
//! record framing to damage; a missing update is common to all and runs
//! everywhere), and the change log, which the PostgreSQL store does not keep
//! yet. Sled-only concerns (reopening, locking, the format marker),
//! PostgreSQL-only ones (group commit across stores, several nodes, restarts,
//! migrations) and the record-decoder property tests live in their own
//! modules.

mod append_log;
mod basics;
mod changes;
mod compaction;
mod corruption;
mod fixtures;
mod identifiers;
mod kinds;
mod postgres_only;
mod record_properties;
mod sled_only;
mod versions;

macro_rules! for_every_store {
    (
        everywhere: [$($module:ident :: $scenario:ident),* $(,)?],
        framed_records_and_change_log: [$($only_module:ident :: $only_scenario:ident),* $(,)?] $(,)?
    ) => {
        mod memory_store {
            $(
                #[test]
                fn $scenario() {
                    let fixture = crate::fixtures::Fixture::memory();
                    crate::$module::$scenario(fixture.store());
                }
            )*
            $(
                #[test]
                fn $only_scenario() {
                    let fixture = crate::fixtures::Fixture::memory();
                    crate::$only_module::$only_scenario(fixture.store());
                }
            )*
        }
        mod sled_store {
            $(
                #[test]
                fn $scenario() {
                    let fixture = crate::fixtures::Fixture::sled();
                    crate::$module::$scenario(fixture.store());
                }
            )*
            $(
                #[test]
                fn $only_scenario() {
                    let fixture = crate::fixtures::Fixture::sled();
                    crate::$only_module::$only_scenario(fixture.store());
                }
            )*
        }
        // sled with an append log of tiny segments: every few appends fold into sled, so each
        // scenario also runs across the fold (updates half in sled, half in the log).
        mod sled_store_folding {
            $(
                #[test]
                fn $scenario() {
                    let fixture = crate::fixtures::Fixture::sled_folding();
                    crate::$module::$scenario(fixture.store());
                }
            )*
            $(
                #[test]
                fn $only_scenario() {
                    let fixture = crate::fixtures::Fixture::sled_folding();
                    crate::$only_module::$only_scenario(fixture.store());
                }
            )*
        }
        mod postgres_store {
            $(
                #[test]
                fn $scenario() {
                    let fixture = crate::fixtures::Fixture::postgres();
                    crate::$module::$scenario(fixture.store());
                }
            )*
        }
    };
}

for_every_store! {
    everywhere: [
        basics::unknown_document_loads_empty,
        basics::appends_load_in_order,
        basics::empty_update_round_trips,
        basics::flush_succeeds,
        basics::metadata_reports_sizes_and_counts,
        basics::list_is_sorted_and_pages,
        basics::delete_removes_everything,
        basics::recreated_document_starts_fresh,
        basics::invalid_ids_are_refused,
        basics::concurrent_appends_get_distinct_seqs,
        basics::append_many_matches_appending_one_by_one,
        basics::append_many_refuses_a_bad_append_alone,
        compaction::compact_keeps_tail,
        compaction::compact_then_more_appends,
        compaction::compact_through_everything_empties_log,
        compaction::compact_refuses_invented_updates,
        compaction::compact_refuses_stale_snapshot,
        compaction::compact_again_at_same_seq_replaces_snapshot,
        compaction::compact_unknown_document_through_zero_imports,
        compaction::concurrent_appends_and_compactions_lose_nothing,
        identifiers::slashes_and_unicode_round_trip,
        identifiers::prefix_like_ids_do_not_mix,
        identifiers::longest_id_works,
        corruption::missing_update_is_reported,
        corruption::missing_last_update_is_reported,
        versions::versions_need_an_existing_document,
        versions::versions_list_oldest_first_and_load_back,
        versions::version_labels_and_ids_are_checked,
        versions::compaction_leaves_versions_alone,
        versions::delete_removes_versions,
        versions::versions_of_documents_do_not_mix,
        versions::concurrent_versions_get_distinct_ids,
        kinds::created_document_is_empty_and_has_its_kind,
        kinds::documents_created_by_a_first_append_are_text,
        kinds::creating_an_existing_document_changes_nothing,
        kinds::kind_survives_appends_compaction_and_versions,
        kinds::deleted_document_can_be_created_again_with_another_kind,
        kinds::create_refuses_invalid_ids,
    ],
    // Damage to sled's framed records (checksums, framing, the encoded entry and version
    // entries), which PostgreSQL does not store, and the change log, which it does not keep yet.
    framed_records_and_change_log: [
        corruption::damaged_update_loads_good_prefix,
        corruption::truncated_update_is_reported,
        corruption::misplaced_update_is_reported,
        corruption::damaged_snapshot_loads_nothing,
        corruption::corrupt_entry_fails_loudly_but_is_listed_and_delete_clears_it,
        corruption::compacting_past_corruption_heals,
        versions::damaged_version_entry_is_reported,
        versions::truncated_or_misplaced_version_entry_is_reported,
        versions::damaged_version_snapshot_is_reported,
        changes::events_are_numbered_and_read_after_a_cursor,
        changes::pending_changes_settle_only_with_their_mark,
        changes::deletions_and_versions_are_marked_too,
        changes::trimming_keeps_the_numbering,
        changes::delivery_cursors_are_per_subscriber,
    ],
}
