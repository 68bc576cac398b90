//! What a clean shutdown must not lose: the usage counts and last-used
//! times not stored yet, and the quota counts. The postmaster writes them to
//! a file as it exits cleanly (after every other process is gone; skipped
//! after a crash, or when a process died while changing a table) and reads
//! the file back, and deletes it, when it sets shared memory up again.

use std::io::{Read, Write};

use pgrx::pg_sys;

use crate::runtime::quota::{Used, USED};
use crate::runtime::shmem::{self, Entry, SharedTable};
use crate::runtime::usage::{Count, LastUse, COUNTS, LAST_USES};

/// The file, relative to the data directory (the postmaster's working
/// directory).
const SAVED: &str = "pg_stat/api_keys.stat";
const MAGIC: &[u8; 8] = b"AKSAVED3";

/// Arrange for [`restore`] at every shared-memory setup in the postmaster.
/// Called from `_PG_init` when preloaded.
pub fn init() {
    shmem::after_startup(restore);
}

/// A record of fixed size in the file.
trait Record: Entry + Sized {
    const SIZE: usize;
    fn write(&self, out: &mut Vec<u8>);
    fn read(bytes: &[u8]) -> Self;
}

impl Record for Count {
    const SIZE: usize = 4 + 16 + 4 + 1 + 8;
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.db.to_le_bytes());
        out.extend_from_slice(&self.key);
        out.extend_from_slice(&self.day.to_le_bytes());
        out.push(self.code);
        out.extend_from_slice(&self.count.to_le_bytes());
    }
    fn read(b: &[u8]) -> Self {
        Count {
            db: u32::from_le_bytes(b[0..4].try_into().expect("4")),
            key: b[4..20].try_into().expect("16"),
            day: i32::from_le_bytes(b[20..24].try_into().expect("4")),
            code: b[24],
            count: u64::from_le_bytes(b[25..33].try_into().expect("8")),
        }
    }
}

impl Record for LastUse {
    const SIZE: usize = 4 + 16 + 8;
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.db.to_le_bytes());
        out.extend_from_slice(&self.key);
        out.extend_from_slice(&self.at.to_le_bytes());
    }
    fn read(b: &[u8]) -> Self {
        LastUse {
            db: u32::from_le_bytes(b[0..4].try_into().expect("4")),
            key: b[4..20].try_into().expect("16"),
            at: i64::from_le_bytes(b[20..28].try_into().expect("8")),
        }
    }
}

impl Record for Used {
    const SIZE: usize = 4 + 16 + 4 + 8;
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.db.to_le_bytes());
        out.extend_from_slice(&self.subject);
        out.extend_from_slice(&self.period.to_le_bytes());
        out.extend_from_slice(&self.used.to_le_bytes());
    }
    fn read(b: &[u8]) -> Self {
        Used {
            db: u32::from_le_bytes(b[0..4].try_into().expect("4")),
            subject: b[4..20].try_into().expect("16"),
            period: i32::from_le_bytes(b[20..24].try_into().expect("4")),
            used: u64::from_le_bytes(b[24..32].try_into().expect("8")),
        }
    }
}

fn write_all<E: Record>(out: &mut Vec<u8>, entries: &[E]) {
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for e in entries {
        e.write(out);
    }
}

fn read_all<E: Record>(rest: &mut &[u8]) -> Option<Vec<E>> {
    let n = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as usize;
    let body = rest.get(8..8 + n.checked_mul(E::SIZE)?)?;
    *rest = &rest[8 + body.len()..];
    Some(body.chunks_exact(E::SIZE).map(E::read).collect())
}

fn put_back<E: Record, H: Copy + Default>(table: &SharedTable<E, H>, entries: Vec<E>) {
    table.locked(|t| {
        for e in entries {
            t.upsert(&e.key(), || e, |_| false);
        }
    });
}

/// Write what is left to [`SAVED`] as the postmaster exits.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn save(code: i32, _arg: pg_sys::Datum) {
    if code != 0 {
        return;
    }
    let (Some(counts), Some(uses), Some(quotas)) = (
        COUNTS.entries_at_exit(),
        LAST_USES.entries_at_exit(),
        USED.entries_at_exit(),
    ) else {
        return;
    };
    let mut out = MAGIC.to_vec();
    write_all(&mut out, &counts);
    write_all(&mut out, &uses);
    write_all(&mut out, &quotas);
    let tmp = format!("{SAVED}.tmp");
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(&out).and_then(|_| f.sync_all()))
        .and_then(|_| std::fs::rename(&tmp, SAVED));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Read [`SAVED`] back into the fresh tables and delete it (so that a
/// later crash cannot load it twice), then arrange for [`save`] at exit.
fn restore() {
    // SAFETY: registers a callback of ours in the postmaster.
    unsafe { pg_sys::on_shmem_exit(Some(save), pg_sys::Datum::from(0)) };
    let mut bytes = Vec::new();
    let read = std::fs::File::open(SAVED).and_then(|mut f| f.read_to_end(&mut bytes));
    let _ = std::fs::remove_file(SAVED);
    if read.is_err() {
        return;
    }
    let Some(mut rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return;
    };
    let (Some(counts), Some(uses), Some(quotas)) = (
        read_all::<Count>(&mut rest),
        read_all::<LastUse>(&mut rest),
        read_all::<Used>(&mut rest),
    ) else {
        return;
    };
    put_back(&COUNTS, counts);
    put_back(&LAST_USES, uses);
    put_back(&USED, quotas);
}
