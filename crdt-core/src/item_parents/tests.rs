use yrs::{Array, Doc, Map, MapPrelim, ReadTxn, StateVector, Text, TextPrelim, Transact};

use super::*;
use crate::crafted::{Link, collected, item, update_of, write_item};

fn shape(update: &[u8]) -> UpdateShape {
    update_v1_shape(update).expect("the update walks")
}

/// Admits `update` into `index` the way the room does, recording it when admitted.
fn admit(index: &mut ItemParents, update: &[u8], deleted: &[(u64, u32)]) -> Result<(), String> {
    let shape = shape(update);
    let mut is_deleted = |holder: ItemId| deleted.contains(&(holder.client(), holder.clock()));
    let admission = index
        .admit(&shape, &mut is_deleted)
        .map_err(|error| error.to_string())?;
    index.record(&shape, admission);
    Ok(())
}

fn parent_of(index: &ItemParents, client: u64, clock: u32) -> Option<NamedParent> {
    let parent = index.find_in_document(ItemId::new(client, clock))?;
    (parent != UNKNOWN).then(|| index.parents[parent.0 as usize].clone())
}

fn root(name: &str) -> NamedParent {
    NamedParent {
        of: ParentType::Root(name.into()),
        key: None,
    }
}

/// An index holding client 1's "abc" at 0..3 in root text `a`, and client 2's "xyz" at 0..3 in
/// root text `b`.
fn two_texts() -> ItemParents {
    let mut index = ItemParents::default();
    admit(&mut index, &item(1, 0, Link::Root("a"), "abc"), &[]).unwrap();
    admit(&mut index, &item(2, 0, Link::Root("b"), "xyz"), &[]).unwrap();
    index
}

#[test]
fn items_take_the_type_of_their_origins() {
    let mut index = two_texts();
    admit(&mut index, &item(3, 0, Link::After((1, 1)), "1"), &[]).unwrap();
    admit(&mut index, &item(3, 1, Link::Before((2, 0)), "2"), &[]).unwrap();
    admit(
        &mut index,
        &item(3, 2, Link::Between((1, 2), (1, 0)), "3"),
        &[],
    )
    .unwrap();
    assert_eq!(parent_of(&index, 3, 0), Some(root("a")));
    assert_eq!(parent_of(&index, 3, 1), Some(root("b")));
    assert_eq!(parent_of(&index, 3, 2), Some(root("a")));
    assert_eq!(parent_of(&index, 3, 3), None, "clock 3 was never written");
}

#[test]
fn origins_in_two_types_are_refused() {
    let mut index = two_texts();
    let refused = admit(
        &mut index,
        &item(3, 0, Link::Between((1, 1), (2, 1)), "!"),
        &[],
    );
    assert!(refused.unwrap_err().contains("different types"));
    assert_eq!(parent_of(&index, 3, 0), None, "nothing of it is recorded");
}

#[test]
fn a_map_value_and_a_list_element_are_different_places() {
    // yrs would copy the right origin's key to the item, Yjs would not.
    let mut index = ItemParents::default();
    admit(&mut index, &item(1, 0, Link::Root("m"), "element"), &[]).unwrap();
    admit(
        &mut index,
        &item(2, 0, Link::RootKey("m", "k"), "value"),
        &[],
    )
    .unwrap();
    let refused = admit(
        &mut index,
        &item(3, 0, Link::Between((1, 0), (2, 0)), "?"),
        &[],
    );
    assert!(refused.is_err());
    admit(
        &mut index,
        &item(3, 0, Link::After((2, 0)), "next value"),
        &[],
    )
    .unwrap();
    let value = NamedParent {
        key: Some("k".into()),
        ..root("m")
    };
    assert_eq!(parent_of(&index, 3, 0), Some(value));
}

#[test]
fn an_origin_in_collected_content_beside_a_live_type_is_refused() {
    // Yjs makes such an item garbage; yrs would put it in the other origin's type and show it.
    let mut index = two_texts();
    admit(&mut index, &collected(4, 0, 5), &[]).unwrap();
    assert_eq!(parent_of(&index, 4, 2), None);
    let refused = admit(
        &mut index,
        &item(3, 0, Link::Between((4, 2), (1, 0)), "!"),
        &[],
    );
    assert!(refused.unwrap_err().contains("collected"));
    let refused = admit(
        &mut index,
        &item(3, 0, Link::Between((2, 0), (4, 0)), "!"),
        &[],
    );
    assert!(refused.is_err());
    // Beside collected content alone, the item is garbage to both readers.
    admit(&mut index, &item(3, 0, Link::After((4, 4)), "gone"), &[]).unwrap();
    assert_eq!(parent_of(&index, 3, 0), None);
}

#[test]
fn typing_into_a_deleted_nested_type_beside_collected_content_is_admitted() {
    // Someone deleted the nested text that client 3 was typing in: its neighbours are collected
    // content on one side and the deleted text's content on the other. Neither reader shows the
    // item; refusing it would only lock client 3 out.
    let mut index = ItemParents::default();
    admit(&mut index, &item(1, 0, Link::Root("m"), "t"), &[]).unwrap();
    admit(&mut index, &item(2, 0, Link::Nested((1, 0)), "abc"), &[]).unwrap();
    admit(&mut index, &collected(5, 0, 2), &[]).unwrap();
    let update = item(3, 0, Link::Between((5, 1), (2, 0)), "late");
    assert!(
        admit(&mut index, &update, &[]).is_err(),
        "the text is alive"
    );
    admit(&mut index, &update, &[(1, 0)]).unwrap();
}

#[test]
fn items_may_link_to_later_clients_of_the_same_update() {
    let mut index = two_texts();
    let mut first = Vec::new();
    write_item(&mut first, Link::After((8, 0)), "x");
    let mut second = Vec::new();
    write_item(&mut second, Link::After((1, 2)), "y");
    admit(
        &mut index,
        &update_of(&[(7, 0, vec![first]), (8, 0, vec![second])]),
        &[],
    )
    .unwrap();
    assert_eq!(parent_of(&index, 7, 0), Some(root("a")));
    assert_eq!(parent_of(&index, 8, 0), Some(root("a")));
}

#[test]
fn items_linking_in_a_circle_are_refused() {
    let mut index = two_texts();
    let mut first = Vec::new();
    write_item(&mut first, Link::After((8, 0)), "x");
    let mut second = Vec::new();
    write_item(&mut second, Link::After((7, 0)), "y");
    let refused = admit(
        &mut index,
        &update_of(&[(7, 0, vec![first]), (8, 0, vec![second])]),
        &[],
    );
    assert!(refused.unwrap_err().contains("circle"));
}

#[test]
fn a_long_chain_inside_one_update_needs_no_deep_recursion() {
    // Each client's item follows the next client's: resolved through an explicit stack.
    let mut index = two_texts();
    let count = 50_000u64;
    let clients = (0..count)
        .map(|step| {
            let mut block = Vec::new();
            let link = match step + 1 {
                next if next < count => Link::After((100 + next, 0)),
                _ => Link::After((1, 0)),
            };
            write_item(&mut block, link, "c");
            (100 + step, 0, vec![block])
        })
        .collect::<Vec<_>>();
    admit(&mut index, &update_of(&clients), &[]).unwrap();
    assert_eq!(parent_of(&index, 100, 0), Some(root("a")));
}

#[test]
fn a_document_indexes_as_its_updates_did() {
    let doc = Doc::with_client_id(1);
    let text = doc.get_or_insert_text("text");
    let map = doc.get_or_insert_map("map");
    let mut incremental = ItemParents::default();
    let record = |doc: &Doc, state: &StateVector, index: &mut ItemParents| {
        let update = doc.transact().encode_state_as_update_v1(state);
        admit(index, &update, &[]).expect("a stock client's update is admitted");
    };
    let mut state = StateVector::default();
    for round in 0..20u32 {
        {
            let mut txn = doc.transact_mut();
            text.insert(&mut txn, round % 3, "typed ");
            map.insert(&mut txn, format!("key{}", round % 4), round);
            if round % 5 == 0 {
                let nested = map.insert(&mut txn, "nested", TextPrelim::new("inner"));
                nested.insert(&mut txn, 2, "more");
                let list = map.insert(&mut txn, "list", yrs::ArrayPrelim::default());
                list.insert(&mut txn, 0, MapPrelim::default());
            }
            if round % 7 == 6 {
                text.remove_range(&mut txn, 0, 4);
                map.remove(&mut txn, "nested");
            }
        }
        record(&doc, &state, &mut incremental);
        state = doc.transact().state_vector();
    }
    let whole = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let built = ItemParents::of_document(&shape(&whole)).unwrap();
    for clock in 0..doc.transact().state_vector().get(&ClientID::new(1)) {
        let (from_updates, from_document) = (
            parent_of(&incremental, 1, clock),
            parent_of(&built, 1, clock),
        );
        // Content collected since (the removed nested text's) is unknown to the document.
        if from_document.is_some() {
            assert_eq!(from_updates, from_document, "clock {clock}");
        }
    }
    assert!(built.runs() < 200, "{} runs", built.runs());
}
