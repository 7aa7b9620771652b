//! Hand-made Yjs v1 updates for tests: items linked to the document in ways a stock client
//! never links them, to show what the room does with them.

use yrs::encoding::write::Write;

/// How a crafted item links to the document.
#[derive(Clone, Copy)]
pub(crate) enum Link<'a> {
    Root(&'a str),
    RootKey(&'a str, &'a str),
    Nested((u64, u32)),
    After((u64, u32)),
    Before((u64, u32)),
    Between((u64, u32), (u64, u32)),
}

/// A v1 update of `client`'s one string item at `clock`, linked as `link`.
pub(crate) fn item(client: u64, clock: u32, link: Link<'_>, text: &str) -> Vec<u8> {
    let mut blocks = Vec::new();
    write_item(&mut blocks, link, text);
    update_of(&[(client, clock, vec![blocks])])
}

/// Writes one string item, linked as `link`, into a client's blocks.
pub(crate) fn write_item(out: &mut Vec<u8>, link: Link<'_>, text: &str) {
    const STRING: u8 = 4;
    let write_id = |out: &mut Vec<u8>, (client, clock): (u64, u32)| {
        out.write_var(client);
        out.write_var(clock);
    };
    match link {
        Link::Root(name) => {
            out.write_u8(STRING);
            out.write_var(1u32);
            out.write_string(name);
        }
        Link::RootKey(name, key) => {
            out.write_u8(STRING | 0b0010_0000);
            out.write_var(1u32);
            out.write_string(name);
            out.write_string(key);
        }
        Link::Nested(holder) => {
            out.write_u8(STRING);
            out.write_var(0u32);
            write_id(out, holder);
        }
        Link::After(origin) => {
            out.write_u8(STRING | 0b1000_0000);
            write_id(out, origin);
        }
        Link::Before(right) => {
            out.write_u8(STRING | 0b0100_0000);
            write_id(out, right);
        }
        Link::Between(origin, right) => {
            out.write_u8(STRING | 0b1100_0000);
            write_id(out, origin);
            write_id(out, right);
        }
    }
    out.write_string(text);
}

/// A v1 update of each client's blocks (already encoded), with no deletions.
pub(crate) fn update_of(clients: &[(u64, u32, Vec<Vec<u8>>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.write_var(clients.len() as u32);
    for (client, clock, blocks) in clients {
        out.write_var(blocks.len() as u32);
        out.write_var(*client);
        out.write_var(*clock);
        for block in blocks {
            out.write_all(block);
        }
    }
    out.write_var(0u32);
    out
}

/// A garbage-collected range of `client` from `clock`.
pub(crate) fn collected(client: u64, clock: u32, length: u32) -> Vec<u8> {
    let mut block = vec![0];
    block.write_var(length);
    update_of(&[(client, clock, vec![block])])
}

/// A v1 update deleting `ranges` (start, length) of `client`, written in the order given.
pub(crate) fn deletion(client: u64, ranges: &[(u32, u32)]) -> Vec<u8> {
    let mut out = vec![0, 1];
    out.write_var(client);
    out.write_var(ranges.len() as u32);
    for &(start, length) in ranges {
        out.write_var(start);
        out.write_var(length);
    }
    out
}
