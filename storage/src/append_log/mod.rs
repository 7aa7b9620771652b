//! The append log: where [`crate::SledStore`] writes updates first, so that a group commit is one
//! `write` and one `fdatasync` instead of a sled batch per flush.
//!
//! Measured in W3 (2,000 rooms, a dozen updates per flush), sled cost about half of the server's
//! CPU: copying tree nodes for every insert, writing its log through its I/O threads with
//! `sync_file_range`, then our `fdatasync` on top. Here an append is a frame written to the end
//! of the current segment, and a flush is one `fdatasync` of it. sled still holds everything
//! else (entries, snapshots, versions, the change log); an update moves into sled only when its
//! document compacts (the snapshot covers it and the frame is dead) or, for a document that never
//! compacts, when its segment is the oldest of too many and is folded (`SledStore` copies its
//! live frames into sled, then the segment goes).
//!
//! This module keeps the files and an index from each document number to where its live
//! updates are; it knows nothing of entries or sled. A segment is removed once none of its
//! frames is live. Appends are visible to reads at once (they are in the page cache) and
//! durable once [`AppendLog::sync`] returns.

mod frame;
mod segment;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub(crate) use frame::FrameFields;
use frame::{ParsedFrame, encode_frame, parse_frames};
use segment::{SEGMENT_HEADER, create_segment, list_segments, read_segment, remove_segment};

use crate::record::RECORD_HEADER_LENGTH;
use crate::store::Seq;

/// How large segments grow and how many may pile up before the oldest is folded into sled.
#[derive(Clone, Copy, Debug)]
pub struct AppendLogLimits {
    /// A segment past this many bytes is closed and a new one started.
    pub segment_bytes: u64,
    /// Closed segments kept before the oldest is folded; replay after a restart reads at most
    /// about `(closed_segments + 1) * segment_bytes`.
    pub closed_segments: usize,
}

impl Default for AppendLogLimits {
    fn default() -> Self {
        AppendLogLimits {
            segment_bytes: 16 * 1024 * 1024,
            closed_segments: 4,
        }
    }
}

/// Where one live update record is.
#[derive(Clone, Copy, Debug)]
struct Location {
    segment: u64,
    offset: u64,
    length: u32,
}

/// A segment's file and how many of its frames are still live.
struct Segment {
    file: Arc<File>,
    live: u64,
}

/// One document incarnation's live updates.
struct DocumentUpdates {
    id: String,
    updates: BTreeMap<Seq, Location>,
}

struct State {
    segments: BTreeMap<u64, Segment>,
    current: u64,
    /// Bytes in the current segment, header included.
    current_length: u64,
    /// Segments written to since the last sync began.
    unsynced: BTreeSet<u64>,
    documents: HashMap<u64, DocumentUpdates>,
}

/// One update to append: its document and its encoded record.
pub(crate) type Append<'a> = FrameFields<'a>;

/// A frame found at open, for the store to judge live or dead.
#[derive(Debug)]
pub(crate) struct ReplayedFrame {
    pub id: String,
    pub document_number: u64,
    pub seq: Seq,
    pub payload_length: u64,
    pub appended_at_millis: u64,
    location: Location,
}

/// A document's live updates in one segment, as handed out for folding.
#[derive(Debug)]
pub(crate) struct FoldGroup {
    pub id: String,
    pub document_number: u64,
    pub seqs: Vec<Seq>,
}

/// The segments of one directory and the index of their live frames.
pub(crate) struct AppendLog {
    directory: PathBuf,
    limits: AppendLogLimits,
    state: Mutex<State>,
    /// Held across a whole sync, so a sync that finds nothing left to do never returns before an
    /// earlier one that took the work has finished it.
    syncing: Mutex<()>,
}

impl AppendLog {
    /// Opens the log in `directory` (creating it), reads back every frame the segments hold and
    /// starts a new segment for appends. Nothing is live until [`AppendLog::adopt`]; then
    /// [`AppendLog::remove_dead_segments`].
    pub(crate) fn open(
        directory: &Path,
        limits: AppendLogLimits,
    ) -> io::Result<(AppendLog, Vec<ReplayedFrame>)> {
        std::fs::create_dir_all(directory)?;
        segment::sync_directory(directory)?;
        if let Some(parent) = directory.parent() {
            segment::sync_directory(parent)?;
        }
        let mut segments = BTreeMap::new();
        let mut replayed = Vec::new();
        let existing = list_segments(directory)?;
        for &number in &existing {
            let (file, bytes) = read_segment(directory, number)?;
            let body = bytes.get(SEGMENT_HEADER.len()..).unwrap_or_default();
            let (frames, _) = parse_frames(body);
            replayed.extend(
                frames
                    .into_iter()
                    .map(|frame| replayed_frame(number, frame)),
            );
            segments.insert(
                number,
                Segment {
                    file: Arc::new(file),
                    live: 0,
                },
            );
        }
        let current = existing.last().map_or(1, |last| last + 1);
        let file = create_segment(directory, current)?;
        segments.insert(
            current,
            Segment {
                file: Arc::new(file),
                live: 0,
            },
        );
        let log = AppendLog {
            directory: directory.to_path_buf(),
            limits,
            state: Mutex::new(State {
                segments,
                current,
                current_length: SEGMENT_HEADER.len() as u64,
                unsynced: BTreeSet::new(),
                documents: HashMap::new(),
            }),
            syncing: Mutex::new(()),
        };
        Ok((log, replayed))
    }

    /// Takes the frames found at open that the store judged live back into the index.
    pub(crate) fn adopt(&self, frames: Vec<ReplayedFrame>) {
        let mut state = self.lock();
        for frame in frames {
            state.index(frame.id, frame.document_number, frame.seq, frame.location);
        }
    }

    /// Removes every segment, other than the current one, with no live frame.
    pub(crate) fn remove_dead_segments(&self) -> io::Result<()> {
        let dead = self.lock().take_dead_segments();
        self.remove(dead)
    }

    /// Writes `appends` (records with their seqs already assigned) as one write at the end of
    /// the current segment, starting a new segment first if it is full, and indexes them.
    pub(crate) fn append(&self, appends: &[Append<'_>], seqs: &[Seq]) -> io::Result<()> {
        let mut buffer = Vec::new();
        let mut offsets = Vec::with_capacity(appends.len());
        for append in appends {
            let offset = encode_frame(&mut buffer, *append).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "update too large to frame")
            })?;
            offsets.push(offset);
        }
        let mut state = self.lock();
        if state.current_length >= self.limits.segment_bytes {
            let next = state.current + 1;
            let file = create_segment(&self.directory, next)?;
            state.segments.insert(
                next,
                Segment {
                    file: Arc::new(file),
                    live: 0,
                },
            );
            state.current = next;
            state.current_length = SEGMENT_HEADER.len() as u64;
        }
        let current = state.current;
        let start = state.current_length;
        let file = Arc::clone(&state.segments[&current].file);
        file.write_all_at(&buffer, start)?;
        state.current_length += buffer.len() as u64;
        state.unsynced.insert(current);
        for ((append, &seq), offset) in appends.iter().zip(seqs).zip(offsets) {
            let location = Location {
                segment: current,
                offset: start + offset as u64,
                length: append.record.len() as u32,
            };
            state.index(append.id.to_owned(), append.document_number, seq, location);
        }
        Ok(())
    }

    /// Makes every append so far durable: `fdatasync` of each segment written since the last
    /// sync (its data and its size).
    pub(crate) fn sync(&self) -> io::Result<()> {
        let _syncing = self.syncing.lock().unwrap_or_else(PoisonError::into_inner);
        let files: Vec<Arc<File>> = {
            let mut state = self.lock();
            let unsynced = std::mem::take(&mut state.unsynced);
            unsynced
                .iter()
                .filter_map(|number| state.segments.get(number))
                .map(|segment| Arc::clone(&segment.file))
                .collect()
        };
        for file in files {
            file.sync_data()?;
        }
        Ok(())
    }

    /// The live update records of document `number` with seqs after `after` and before
    /// `before`, in seq order.
    pub(crate) fn read(
        &self,
        number: u64,
        after: Seq,
        before: Seq,
    ) -> io::Result<Vec<(Seq, Vec<u8>)>> {
        self.read_where(number, |seq| seq > after && seq < before)
    }

    /// The live update records of document `number` at `seqs`, in seq order.
    pub(crate) fn read_seqs(&self, number: u64, seqs: &[Seq]) -> io::Result<Vec<(Seq, Vec<u8>)>> {
        self.read_where(number, |seq| seqs.binary_search(&seq).is_ok())
    }

    fn read_where(
        &self,
        number: u64,
        wanted: impl Fn(Seq) -> bool,
    ) -> io::Result<Vec<(Seq, Vec<u8>)>> {
        let locations: Vec<(Seq, Location, Arc<File>)> = {
            let state = self.lock();
            let Some(document) = state.documents.get(&number) else {
                return Ok(Vec::new());
            };
            document
                .updates
                .iter()
                .filter(|(seq, _)| wanted(**seq))
                .filter_map(|(&seq, &location)| {
                    let segment = state.segments.get(&location.segment)?;
                    Some((seq, location, Arc::clone(&segment.file)))
                })
                .collect()
        };
        // Read outside the lock: the files stay open through their `Arc`s even if a segment is
        // removed meanwhile.
        locations
            .into_iter()
            .map(|(seq, location, file)| {
                let mut bytes = vec![0; location.length as usize];
                file.read_exact_at(&mut bytes, location.offset)?;
                Ok((seq, bytes))
            })
            .collect()
    }

    /// Records and payload bytes of document `number`'s live updates after `after`.
    pub(crate) fn count_after(&self, number: u64, after: Seq) -> (u64, u64) {
        let state = self.lock();
        let Some(document) = state.documents.get(&number) else {
            return (0, 0);
        };
        document
            .updates
            .range(after.next()..)
            .fold((0, 0), |(records, bytes), (_, location)| {
                let payload = (location.length as usize).saturating_sub(RECORD_HEADER_LENGTH);
                (records + 1, bytes + payload as u64)
            })
    }

    /// Every live seq of document `number`.
    pub(crate) fn seqs_of(&self, number: u64) -> Vec<Seq> {
        let state = self.lock();
        state
            .documents
            .get(&number)
            .map(|document| document.updates.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Marks document `number`'s updates through `through` dead (a durable snapshot covers
    /// them) and removes the segments left with nothing live.
    pub(crate) fn forget_through(&self, number: u64, through: Seq) -> io::Result<()> {
        let dead = {
            let mut state = self.lock();
            let seqs: Vec<Seq> = match state.documents.get(&number) {
                Some(document) => document
                    .updates
                    .range(..=through)
                    .map(|(&s, _)| s)
                    .collect(),
                None => return Ok(()),
            };
            state.forget(number, &seqs);
            state.take_dead_segments()
        };
        self.remove(dead)
    }

    /// Marks the given updates dead (deleted, or copied into sled) and removes the segments left
    /// with nothing live.
    pub(crate) fn forget(&self, number: u64, seqs: &[Seq]) -> io::Result<()> {
        let dead = {
            let mut state = self.lock();
            state.forget(number, seqs);
            state.take_dead_segments()
        };
        self.remove(dead)
    }

    /// Marks every update of document `number` dead.
    pub(crate) fn forget_document(&self, number: u64) -> io::Result<()> {
        let seqs = self.seqs_of(number);
        self.forget(number, &seqs)
    }

    /// When more closed segments are kept than the limits allow, the oldest one's live updates,
    /// grouped by document, for the store to copy into sled.
    pub(crate) fn due_for_folding(&self) -> Option<Vec<FoldGroup>> {
        let state = self.lock();
        let closed = state.segments.len().saturating_sub(1);
        if closed <= self.limits.closed_segments {
            return None;
        }
        let (&oldest, _) = state.segments.iter().next()?;
        let groups = state
            .documents
            .iter()
            .filter_map(|(&document_number, document)| {
                let seqs: Vec<Seq> = document
                    .updates
                    .iter()
                    .filter(|(_, location)| location.segment == oldest)
                    .map(|(&seq, _)| seq)
                    .collect();
                (!seqs.is_empty()).then(|| FoldGroup {
                    id: document.id.clone(),
                    document_number,
                    seqs,
                })
            })
            .collect();
        Some(groups)
    }

    /// Whether closed segments have piled up to twice what the limits allow: folding (the
    /// store's `maintain`) has not kept up, or nobody runs it, and a flush folds them itself.
    pub(crate) fn folding_overdue(&self) -> bool {
        let closed = self.lock().segments.len().saturating_sub(1);
        closed > self.limits.closed_segments * 2
    }

    /// The directory holding the segments.
    pub(crate) fn directory(&self) -> &Path {
        &self.directory
    }

    /// How many segment files exist now (the current one included).
    #[cfg(test)]
    pub(crate) fn segment_count(&self) -> usize {
        self.lock().segments.len()
    }

    fn remove(&self, segments: Vec<u64>) -> io::Result<()> {
        for number in segments {
            remove_segment(&self.directory, number)?;
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update of the state completes before its guard drops (no call in between can
        // panic halfway), so a poisoned lock holds consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn index(&mut self, id: String, number: u64, seq: Seq, location: Location) {
        let document = self
            .documents
            .entry(number)
            .or_insert_with(|| DocumentUpdates {
                id,
                updates: BTreeMap::new(),
            });
        let replaced = document.updates.insert(seq, location);
        if let Some(segment) = self.segments.get_mut(&location.segment) {
            segment.live += 1;
        }
        if let Some(old) = replaced
            && let Some(segment) = self.segments.get_mut(&old.segment)
        {
            segment.live = segment.live.saturating_sub(1);
        }
    }

    fn forget(&mut self, number: u64, seqs: &[Seq]) {
        let Some(document) = self.documents.get_mut(&number) else {
            return;
        };
        for seq in seqs {
            if let Some(location) = document.updates.remove(seq)
                && let Some(segment) = self.segments.get_mut(&location.segment)
            {
                segment.live = segment.live.saturating_sub(1);
            }
        }
        if document.updates.is_empty() {
            self.documents.remove(&number);
        }
    }

    /// Drops the closed segments with nothing live from the table and names them for removal.
    fn take_dead_segments(&mut self) -> Vec<u64> {
        let current = self.current;
        let dead: Vec<u64> = self
            .segments
            .iter()
            .filter(|&(&number, segment)| number != current && segment.live == 0)
            .map(|(&number, _)| number)
            .collect();
        for number in &dead {
            self.segments.remove(number);
            self.unsynced.remove(number);
        }
        dead
    }
}

fn replayed_frame(segment: u64, frame: ParsedFrame) -> ReplayedFrame {
    let header = SEGMENT_HEADER.len() as u64;
    ReplayedFrame {
        id: frame.id,
        document_number: frame.document_number,
        seq: frame.seq,
        payload_length: frame.payload_length,
        appended_at_millis: frame.appended_at_millis,
        location: Location {
            segment,
            offset: header + frame.record_offset as u64,
            length: frame.record_length as u32,
        },
    }
}
