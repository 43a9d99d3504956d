use raft::Storage as _;
use raft::eraftpb::{Entry, HardState, Snapshot};

use super::*;

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        data: format!("payload-{index}-{term}").into_bytes().into(),
        ..Entry::default()
    }
}

fn entries(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    range.map(|i| entry(i, term)).collect()
}

fn hard_state(term: u64, vote: u64, commit: u64) -> HardState {
    HardState {
        term,
        vote,
        commit,
        ..HardState::default()
    }
}

fn snapshot(index: u64, term: u64, voters: &[u64], data: &[u8]) -> Snapshot {
    let mut s = Snapshot {
        data: data.to_vec().into(),
        ..Snapshot::default()
    };
    s.mut_metadata().index = index;
    s.mut_metadata().term = term;
    s.mut_metadata().mut_conf_state().voters = voters.to_vec();
    s
}

fn redb_store(dir: &tempfile::TempDir) -> LogStore {
    LogStore::open(Box::new(
        RedbLog::open(dir.path().join("raft.redb")).unwrap(),
    ))
    .unwrap()
}

fn get_entries(store: &LogStore, low: u64, high: u64) -> raft::Result<Vec<Entry>> {
    store.entries(low, high, None, GetEntriesContext::empty(false))
}

#[test]
fn persist_reopen_compare() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let mut store = redb_store(&dir);
        store.bootstrap(&[1, 2, 3], b"genesis".to_vec()).unwrap();
        store
            .write(WriteBatch {
                entries: entries(2..=10, 1),
                hard_state: Some(hard_state(1, 2, 4)),
                ..WriteBatch::default()
            })
            .unwrap();
        store.note_commit(9);
        store
            .write(WriteBatch {
                entries: entries(11..=12, 2),
                ..WriteBatch::default()
            })
            .unwrap();
        assert_eq!(store.writes(), 3);
        store.core().clone()
    };
    let store = redb_store(&dir);
    assert_eq!(store.core(), &before);
    let state = store.initial_state().unwrap();
    // The commit index learned in between was written with the next batch.
    assert_eq!(state.hard_state, hard_state(1, 2, 9));
    assert_eq!(state.conf_state.voters, vec![1, 2, 3]);
    assert_eq!(
        store.first_index().unwrap(),
        2,
        "the genesis snapshot covers index 1"
    );
    assert_eq!(store.last_index().unwrap(), 12);
    assert_eq!(store.term(12).unwrap(), 2);
    assert_eq!(store.term(1).unwrap(), 1);
    assert_eq!(store.term(0), Err(compacted()));
    assert_eq!(&store.snapshot(0, 3).unwrap().data[..], b"genesis");
    assert_eq!(get_entries(&store, 3, 6).unwrap(), entries(3..=5, 1));
}

#[test]
fn conflicting_suffix_is_truncated_durably() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = redb_store(&dir);
        store.bootstrap(&[1], Vec::new()).unwrap();
        store
            .write(WriteBatch {
                entries: entries(2..=10, 1),
                ..WriteBatch::default()
            })
            .unwrap();
        // A new leader overwrites 6.. with a shorter suffix of term 2.
        store
            .write(WriteBatch {
                entries: entries(6..=8, 2),
                hard_state: Some(hard_state(2, 3, 5)),
                ..WriteBatch::default()
            })
            .unwrap();
        assert_eq!(store.last_index().unwrap(), 8);
    }
    let store = redb_store(&dir);
    assert_eq!(store.last_index().unwrap(), 8);
    let all = get_entries(&store, 2, 9).unwrap();
    let mut expected = entries(2..=5, 1);
    expected.extend(entries(6..=8, 2));
    assert_eq!(all, expected);
    assert_eq!(store.term(9), Err(unavailable()));
    // A gap is refused before anything reaches the disk.
    let mut store = store;
    let err = store
        .write(WriteBatch {
            entries: entries(12..=12, 2),
            ..WriteBatch::default()
        })
        .unwrap_err();
    assert!(matches!(err, StorageError::Invariant(_)), "{err}");
    assert_eq!(store.last_index().unwrap(), 8);
}

#[test]
fn compaction_then_snapshot_then_install() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = redb_store(&dir);
        store.bootstrap(&[1, 2], Vec::new()).unwrap();
        store
            .write(WriteBatch {
                entries: entries(2..=10, 3),
                hard_state: Some(hard_state(3, 1, 8)),
                ..WriteBatch::default()
            })
            .unwrap();
        // Compacting past the stored snapshot is refused.
        let err = store
            .write(WriteBatch {
                compact_to: Some(5),
                ..WriteBatch::default()
            })
            .unwrap_err();
        assert!(matches!(err, StorageError::Invariant(_)), "{err}");
        // Snapshot at 7, keep two entries behind it: compact to 6.
        store
            .write(WriteBatch {
                local_snapshot: Some(snapshot(7, 3, &[1, 2], b"state@7")),
                compact_to: Some(6),
                ..WriteBatch::default()
            })
            .unwrap();
    }
    let mut store = redb_store(&dir);
    assert_eq!(store.first_index().unwrap(), 6);
    assert_eq!(store.last_index().unwrap(), 10);
    assert_eq!(
        store.term(5).unwrap(),
        3,
        "term of the truncation point is kept"
    );
    assert_eq!(store.term(4), Err(compacted()));
    assert_eq!(get_entries(&store, 4, 8), Err(compacted()));
    assert_eq!(get_entries(&store, 6, 11).unwrap(), entries(6..=10, 3));
    let snap = store.snapshot(0, 2).unwrap();
    assert_eq!(&snap.data[..], b"state@7");
    assert_eq!(snap.get_metadata().index, 7);
    // A peer outside the snapshot's membership cannot use it: ask for a fresher one.
    assert_eq!(
        store.snapshot(0, 9),
        Err(raft::Error::Store(
            raft::StorageError::SnapshotTemporarilyUnavailable
        ))
    );
    assert!(store.take_snapshot_wanted());
    assert!(!store.take_snapshot_wanted());

    // A leader's snapshot replaces the whole log; appends continue after it.
    store
        .write(WriteBatch {
            install_snapshot: Some(snapshot(20, 4, &[1, 2, 3], b"state@20")),
            entries: entries(21..=22, 4),
            hard_state: Some(hard_state(4, 0, 20)),
            ..WriteBatch::default()
        })
        .unwrap();
    let before = store.core().clone();
    drop(store);
    let store = redb_store(&dir);
    assert_eq!(store.core(), &before);
    assert_eq!(store.first_index().unwrap(), 21);
    assert_eq!(store.last_index().unwrap(), 22);
    assert_eq!(store.term(20).unwrap(), 4);
    assert_eq!(
        store.initial_state().unwrap().conf_state.voters,
        vec![1, 2, 3]
    );
    assert_eq!(store.initial_state().unwrap().hard_state.commit, 20);
}

#[test]
fn sim_disk_crash_keeps_or_loses_the_whole_write() {
    for lands in [false, true] {
        let disk = SimDisk::new();
        let mut store = LogStore::open(Box::new(disk.clone())).unwrap();
        store.bootstrap(&[1], Vec::new()).unwrap();
        store
            .write(WriteBatch {
                entries: entries(2..=3, 1),
                ..WriteBatch::default()
            })
            .unwrap();
        disk.crash_on_next_write(lands);
        let err = store
            .write(WriteBatch {
                entries: entries(4..=6, 1),
                hard_state: Some(hard_state(1, 1, 3)),
                ..WriteBatch::default()
            })
            .unwrap_err();
        assert!(matches!(err, StorageError::SimulatedCrash));
        // The in-memory view never runs ahead of an unacknowledged write.
        assert_eq!(store.last_index().unwrap(), 3);
        let reopened = LogStore::open(Box::new(disk.clone())).unwrap();
        let expected_last = if lands { 6 } else { 3 };
        assert_eq!(reopened.last_index().unwrap(), expected_last);
        assert_eq!(reopened.core().hard_state.commit, if lands { 3 } else { 1 });
    }
}
