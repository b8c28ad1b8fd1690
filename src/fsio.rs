//! Reading and writing files safely: bytes in, atomic replace out.
//!
//! harborize runs unattended with write access to repositories, so a write must never
//! lose anything that was there. Why each step is taken:
//! - The new text goes to a temporary file in the same directory, is synced, and is
//!   renamed over the original: a crash or a full disk never leaves a half-written file.
//! - A run that writes many files stages them in a [`Batch`]: all temporary files first,
//!   one sync for all of them (`syncfs`), then the renames, then the directories' sync
//!   (`syncfs` again on Linux, else one `fsync` per directory).
//!   Thousands of files cost one sync instead of thousands, and nothing is renamed unless
//!   every file got that far. A run whose files are independent of each other (each file
//!   written once proven, whatever becomes of the others) streams its batch: chunks of at
//!   least 512 files are synced and renamed on another thread while the rest is still
//!   being planned, so the disk's waits overlap the CPU's work.
//! - A rename replaces the inode, so whatever is not copied is lost: the temporary file
//!   gets the original's owner, group, mode and extended attributes (ACLs, SELinux labels)
//!   first, or the write is refused (a root run in a Docker action would otherwise hand
//!   every file to root).
//! - A file with more than one hard link is refused: the rename would split the links
//!   (the other names keep the old text), and writing in place is not atomic.
//! - Just before the rename the file is checked to be still what was read (inode, size,
//!   mtime, and a BLAKE3 hash of its content): another writer's change is left alone and
//!   reported, never overwritten. The check and the rename are two steps; a writer that
//!   lands between them is not seen (no filesystem offers a compare-and-rename).
//! - Temporary files are named `.<name>.harborize-tmp-XXXXXX` (hidden, recognizable by
//!   ignore rules), are locked (`flock`) by their writer, and are registered while they
//!   live: SIGINT, SIGTERM and SIGHUP remove them before the process dies, and a later
//!   writing run removes unlocked ones (left by SIGKILL or a power cut) in the directories
//!   it walks and writes.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

pub mod count;

/// What marks a temporary file of harborize's, after the `.<name>` it stands for.
pub const TEMP_MARK: &str = ".harborize-tmp-";

/// Files larger than this are not parsed unless the config says otherwise: the YAML tree
/// costs a multiple of the file's size, and manifests this large are generated output.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

static MAX_FILE_SIZE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Set the size limit for this process (from `max_file_size` in harborize.yaml), once,
/// when the configuration is loaded; later calls keep the first value.
pub fn set_max_file_size(bytes: u64) {
    let _ = MAX_FILE_SIZE.set(bytes);
}

/// The size limit in force.
pub fn max_file_size() -> u64 {
    *MAX_FILE_SIZE.get().unwrap_or(&DEFAULT_MAX_FILE_SIZE)
}

/// Read a file with its [`Stamp`], or say why it is skipped: `Ok(Err(note))` when it is
/// larger than the limit (checked on the open file before reading, so a huge file costs
/// nothing).
pub fn read_limited(path: &Path) -> io::Result<Result<(Vec<u8>, Stamp), String>> {
    read_limited_for(path, count::Purpose::Plan)
}

/// [`read_limited`], recorded as read for `purpose` ([`count`]).
pub fn read_limited_for(
    path: &Path,
    purpose: count::Purpose,
) -> io::Result<Result<(Vec<u8>, Stamp), String>> {
    let limit = max_file_size();
    let mut file = File::open(path)?;
    let stamp = Stamp::of(&file.metadata()?);
    if stamp.len > limit {
        return Ok(Err(format!(
            "{} bytes, larger than max_file_size ({limit} bytes): skipped (raise max_file_size in harborize.yaml to include it)",
            stamp.len
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(stamp.len).unwrap_or(0));
    // Through `take`, which std does not size again: `File::read_to_end` asks the kernel
    // for the size and position a second time (an `fstat` and an `lseek` per file, 16,000
    // system calls on a 8,000-file check) when the stamp already gave the capacity.
    (&mut file).take(u64::MAX).read_to_end(&mut bytes)?;
    count::note(path, purpose);
    Ok(Ok((bytes, stamp)))
}

/// `std::fs::read_to_string`, recorded as read for `purpose` ([`count`]).
pub fn read_text(path: &Path, purpose: count::Purpose) -> io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    count::note(path, purpose);
    Ok(text)
}

/// What a file turned out to hold.
pub enum Content {
    Text {
        text: String,
        bom: bool,
    },
    /// UTF-16 with a byte-order mark (YAML allows it): decoded so callers can tell a
    /// manifest from other text, but not written back (see [`decode`]).
    Utf16 {
        text: String,
        big_endian: bool,
    },
    Binary,
    NotUtf8,
}

/// Classify bytes: UTF-16 with a BOM, binary (NUL byte), not UTF-8, or text with an
/// optional BOM stripped. UTF-16 is decoded but only reported: writing it back would need
/// an encoder of its own for files that are vanishingly rare in GitOps repositories, and a
/// manifest harborize cannot edit must fail `check`, not pass it silently.
pub fn decode(bytes: Vec<u8>) -> Content {
    if let Some(utf16) = decode_utf16(&bytes) {
        return utf16;
    }
    if memchr::memchr(0, &bytes).is_some() {
        return Content::Binary;
    }
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            let bom = text.starts_with('\u{feff}');
            if bom {
                text.drain(..3);
            }
            Content::Text { text, bom }
        }
        Err(_) => Content::NotUtf8,
    }
}

/// UTF-16 text after a BOM (`FF FE` little-endian, `FE FF` big-endian); `None` without a
/// BOM, and binary when the rest is not valid UTF-16.
fn decode_utf16(bytes: &[u8]) -> Option<Content> {
    let big_endian = match bytes {
        [0xFF, 0xFE, ..] => false,
        [0xFE, 0xFF, ..] => true,
        _ => return None,
    };
    let body = &bytes[2..];
    if !body.len().is_multiple_of(2) {
        return Some(Content::Binary);
    }
    let units = body.chunks_exact(2).map(|p| {
        if big_endian {
            u16::from_be_bytes([p[0], p[1]])
        } else {
            u16::from_le_bytes([p[0], p[1]])
        }
    });
    Some(
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_or(Content::Binary, |text| Content::Utf16 { text, big_endian }),
    )
}

/// Which file, at which state, a read saw: taken from the descriptor that was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
}

impl Stamp {
    fn of(meta: &Metadata) -> Self {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }
}

/// Read a whole file, with the [`Stamp`] a later [`replace`] checks against.
pub fn read(path: &Path) -> io::Result<(Vec<u8>, Stamp)> {
    read_open(path).map(|(_, bytes, stamp)| (bytes, stamp))
}

/// [`read`], keeping the file open (a batch holds it across its rename).
fn read_open(path: &Path) -> io::Result<(File, Vec<u8>, Stamp)> {
    let mut file = File::open(path)?;
    let stamp = Stamp::of(&file.metadata()?);
    let mut bytes = Vec::with_capacity(usize::try_from(stamp.len).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok((file, bytes, stamp))
}

/// What a file must still be for [`replace`] to overwrite it.
#[derive(Debug, Clone)]
pub struct Original {
    stamp: Stamp,
    /// BLAKE3 of the bytes (every written file is hashed twice: when read, and just before
    /// its rename): collision-resistant like SHA-256 and, on a CPU without SHA
    /// instructions, 7x faster (674 MB/s against 91 MB/s here; BENCHMARKS.md).
    hash: [u8; 32],
}

impl Original {
    /// The file as read with `stamp`, whose bytes were `text` (after a BOM when `bom`).
    /// Hashed only for files about to be written, so reading stays as cheap as it was.
    pub fn new(stamp: Stamp, text: &str, bom: bool) -> Self {
        let mut h = blake3::Hasher::new();
        if bom {
            h.update("\u{feff}".as_bytes());
        }
        h.update(text.as_bytes());
        Original {
            stamp,
            hash: h.finalize().into(),
        }
    }

    /// The same bytes (whatever the metadata): a plan made on `other` still applies.
    pub fn same_content(&self, other: &Original) -> bool {
        self.hash == other.hash
    }
}

/// Why a file was not written; the file is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("changed on disk since harborize read it (another writer?); left as it is, run again")]
    Changed,
    #[error("has {0} hard links; not written (a rename would split the links and writing in place is not atomic)")]
    HardLinks(u64),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> WriteError {
    move |source| WriteError::Io { what, source }
}

/// Replace `path` atomically with `text` (plus the BOM when `bom`), keeping its metadata,
/// provided it is still `original`.
pub fn replace(path: &Path, original: &Original, text: &str, bom: bool) -> Result<(), WriteError> {
    let meta = std::fs::metadata(path).map_err(io_err("cannot read its metadata"))?;
    if Stamp::of(&meta) != original.stamp {
        return Err(WriteError::Changed);
    }
    if meta.nlink() > 1 {
        return Err(WriteError::HardLinks(meta.nlink()));
    }
    let tmp = Temp::create(path)?;
    tmp.write(bom, text)?;
    keep_metadata(path, &meta, tmp.file())?;
    tmp.file()
        .sync_all()
        .map_err(io_err("cannot sync the new content"))?;
    ensure_unchanged(path, original)?;
    tmp.persist(path)
}

/// Write `path` atomically (a temporary file in its directory, synced, then renamed) with
/// mode 0644: for files other programs read and that hold no secret (node mirror configs
/// read by root-owned daemons, admission policies applied by GitOps tooling), which must
/// never be seen half-written.
pub fn write_public_file(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".harborize-")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Write `path` atomically (creating its directory), keeping the metadata of the file it
/// replaces, if any. For files harborize owns (state, reports): no one else edits them.
pub fn write_file(path: &Path, text: &str) -> Result<(), WriteError> {
    std::fs::create_dir_all(dir_of(path)).map_err(io_err("cannot create its directory"))?;
    let existing = match std::fs::metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err("cannot read its metadata")(e)),
    };
    if let Some(n) = existing.as_ref().map(|m| m.nlink()).filter(|&n| n > 1) {
        return Err(WriteError::HardLinks(n));
    }
    let tmp = Temp::create(path)?;
    tmp.write(false, text)?;
    if let Some(meta) = &existing {
        keep_metadata(path, meta, tmp.file())?;
    }
    tmp.file()
        .sync_all()
        .map_err(io_err("cannot sync the new content"))?;
    tmp.persist(path)
}

/// [`write_file`] for a caller that reports with anyhow: the error names the file
/// (`cannot write PATH`, the reason as its cause).
pub fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    write_file(path, text)
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot write {}", path.display())))
}

fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The file is still the one that was read, with the same content.
fn ensure_unchanged(path: &Path, original: &Original) -> Result<(), WriteError> {
    open_unchanged(path, original).map(drop)
}

/// [`ensure_unchanged`], handing back the file it read: a batch holds that descriptor
/// across the rename ([`Replaced`]) instead of opening the file a second time.
fn open_unchanged(path: &Path, original: &Original) -> Result<File, WriteError> {
    let (file, bytes, stamp) = match read_open(path) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(WriteError::Changed),
        Err(e) => return Err(io_err("cannot read it again")(e)),
    };
    if stamp != original.stamp || <[u8; 32]>::from(blake3::hash(&bytes)) != original.hash {
        return Err(WriteError::Changed);
    }
    Ok(file)
}

/// Give `to` the owner, group, mode and extended attributes of `path` (`meta`).
fn keep_metadata(path: &Path, meta: &Metadata, to: &File) -> Result<(), WriteError> {
    let mine = to.metadata().map_err(io_err("cannot read the new file"))?;
    if (mine.uid(), mine.gid()) != (meta.uid(), meta.gid()) {
        // Before the mode: a change of owner clears set-user-ID and set-group-ID bits.
        std::os::unix::fs::fchown(to, Some(meta.uid()), Some(meta.gid()))
            .map_err(io_err("cannot keep its owner and group"))?;
    }
    to.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(io_err("cannot keep its mode"))?;
    copy_xattrs(path, to).map_err(io_err("cannot keep its extended attributes"))
}

/// Copy every extended attribute of `from` that this process can read onto `to`.
fn copy_xattrs(from: &Path, to: &File) -> io::Result<()> {
    let names = xattr_buffer(|buf| rustix::fs::listxattr(from, buf))?;
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = std::ffi::CString::new(name).map_err(io::Error::other)?;
        let value = xattr_buffer(|buf| rustix::fs::getxattr(from, &name, buf))?;
        rustix::fs::fsetxattr(to, &name, &value, rustix::fs::XattrFlags::empty())?;
    }
    Ok(())
}

/// Call an xattr getter, growing the buffer while it reports the value too long.
fn xattr_buffer(get: impl Fn(&mut [u8]) -> rustix::io::Result<usize>) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 1024];
    loop {
        match get(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(rustix::io::Errno::RANGE) if buf.len() < 1 << 24 => {
                let len = buf.len() * 4;
                buf.resize(len, 0);
            }
            // No xattr support on this filesystem: there is nothing to keep.
            Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Batches: many files made durable with one sync.

/// Files replaced together, made durable at the cost of one sync instead of one per file.
///
/// [`stage`](Self::stage) writes each new text to its temporary file (metadata kept, not
/// synced); [`commit`](Self::commit) then syncs every staged file at once (`syncfs` on
/// Linux, once per filesystem; elsewhere one `fsync` per file), checks each target is
/// still what was read, renames them all, and syncs the directories a file was renamed
/// into (on Linux by one more `syncfs`, else one `fsync` each). A failure before the
/// renames (a failed sync) removes every temporary file and writes nothing; a crash
/// before the renames leaves only temporary files, which the next writing run removes.
/// Each rename stays atomic, so a crash during the renames leaves every file either as it
/// was or as planned. A file another writer changed since it was read is left alone and
/// reported, as [`replace`] does. A [`streaming`](Self::streaming) batch does the same
/// chunk by chunk while files are still being staged.
pub struct Batch {
    staged: Mutex<Vec<Staged>>,
    /// How many descriptors the batch may hold at once (temporary files, whose descriptors
    /// carry the lock that keeps a concurrent sweep off them, and replaced files held
    /// across the renames); beyond it, files are replaced one by one.
    open_budget: usize,
    /// The descriptors held now (see `open_budget`), shared with the committer.
    open: Arc<AtomicUsize>,
    /// A streaming batch's committer: staged files go to it as they are staged.
    stream: Option<Stream>,
}

/// The thread of a [`Batch::streaming`] batch that commits what has been staged while
/// more is being staged.
struct Stream {
    hand_off: Arc<HandOff>,
    committer: std::thread::JoinHandle<Result<(), BatchError>>,
}

/// Staged files on their way to a streaming batch's committer. The committer is woken
/// once a chunk's worth waits or staging ends, not for every file: with a wake-up per
/// file, each of thousands of files cost a futex call and a context switch on a core the
/// stagers were using.
#[derive(Default)]
struct HandOff {
    state: Mutex<HandOffState>,
    ready: std::sync::Condvar,
}

#[derive(Default)]
struct HandOffState {
    waiting: Vec<Staged>,
    /// Staging is over: the batch was committed or dropped.
    ended: bool,
    /// The batch was dropped without a commit (an early return, a panic): the committer
    /// renames nothing more and drops what waits (its temporary files go).
    abandoned: bool,
    /// The committer's thread has ended (also by a panic): nothing more can be staged.
    gone: bool,
}

impl HandOff {
    fn lock(&self) -> MutexGuard<'_, HandOffState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hand a staged file to the committer; `false` when the committer is gone (the file
    /// is dropped then: its temporary file goes).
    fn give(&self, staged: Staged) -> bool {
        let mut state = self.lock();
        if state.gone {
            drop(state);
            drop(staged);
            return false;
        }
        state.waiting.push(staged);
        if state.waiting.len() >= MIN_CHUNK {
            self.ready.notify_one();
        }
        true
    }

    /// The end of staging: by the commit, or (`abandoned`) by a drop without one.
    fn end(&self, abandoned: bool) {
        let mut state = self.lock();
        state.ended = true;
        state.abandoned |= abandoned;
        drop(state);
        self.ready.notify_one();
    }

    /// The committer's next chunk, once at least [`MIN_CHUNK`] files wait or staging has
    /// ended, and whether the batch was abandoned; `None` when staging has ended and
    /// nothing is left.
    fn take(&self) -> Option<(Vec<Staged>, bool)> {
        let mut state = self.lock();
        while !state.ended && state.waiting.len() < MIN_CHUNK {
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if state.waiting.is_empty() {
            return None;
        }
        Some((std::mem::take(&mut state.waiting), state.abandoned))
    }
}

/// Marks the [`HandOff`] `gone` when the committer's thread ends, however it ends.
struct CommitterGone(Arc<HandOff>);

impl Drop for CommitterGone {
    fn drop(&mut self) {
        self.0.lock().gone = true;
    }
}

struct Staged {
    target: PathBuf,
    original: Original,
    temp: Temp,
    dev: u64,
}

/// Why a [`Batch`] was not (entirely) written.
#[derive(Debug, thiserror::Error)]
#[error("{} file(s) not written, first {}: {}", failed.len(), failed[0].0.display(), failed[0].1)]
pub struct BatchError {
    /// What failed: a file (or the directory whose sync failed), and why. Never empty.
    pub failed: Vec<(PathBuf, WriteError)>,
    /// The files that were replaced all the same: those that passed when only some files
    /// were changed by another writer, or were renamed before a rename (or, in a streaming
    /// batch, a later chunk's sync) failed. Empty when the batch failed as a whole (a sync
    /// before any rename).
    pub written: Vec<PathBuf>,
}

/// Set by tests (debug builds only): fail a batch after its temporary files are written
/// and synced, just before the first rename.
pub const FAULT_BEFORE_RENAME_ENV: &str = "HARBORIZE_TEST_FAULT_BEFORE_RENAME";

/// A streaming batch commits once at least this many files wait (or staging is over):
/// each chunk costs a `syncfs`, so chunks are not made smaller than this. A guess, not
/// measured against other sizes.
const MIN_CHUNK: usize = 512;

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl Batch {
    /// An empty batch, committed as a whole by [`commit`](Self::commit). Raises the soft
    /// limit on open files to the hard limit, since every staged file keeps its
    /// descriptor until the renames.
    pub fn new() -> Self {
        // Room for what else the process has open (walker, git, stdio).
        let open_budget =
            usize::try_from(raise_open_files_limit().saturating_sub(256)).unwrap_or(usize::MAX);
        Batch {
            staged: Mutex::new(Vec::new()),
            open_budget,
            open: Arc::new(AtomicUsize::new(0)),
            stream: None,
        }
    }

    /// A batch for files that are independent of each other (a run that writes each file
    /// it proved, whatever becomes of the others): while files are still being staged,
    /// those staged so far are committed in chunks of at least [`MIN_CHUNK`] on another
    /// thread, so the syncs and renames wait for the disk while the stagers use the CPU.
    /// Each chunk keeps the guarantees of a whole batch (synced before any of its
    /// renames, a changed file left alone); a failed chunk stops the batch, and the
    /// chunks renamed before it stay written (reported in [`BatchError::written`]).
    pub fn streaming() -> Self {
        let mut batch = Self::new();
        let mut committer = Committer::new(batch.open_budget, Arc::clone(&batch.open), true);
        let hand_off = Arc::new(HandOff::default());
        let from_stagers = Arc::clone(&hand_off);
        let committer = std::thread::spawn(move || {
            let _gone = CommitterGone(Arc::clone(&from_stagers));
            while let Some((chunk, abandoned)) = from_stagers.take() {
                if abandoned {
                    committer.renaming = false;
                }
                committer.commit_chunk(chunk);
            }
            committer.finish()
        });
        batch.stream = Some(Stream {
            hand_off,
            committer,
        });
        batch
    }

    /// Write `text` (plus the BOM when `bom`) to a temporary file beside `path`, to replace
    /// it at [`commit`](Self::commit) provided it is still `original` then. Refused here,
    /// like [`replace`], when `path` already changed or has several hard links. Past the
    /// descriptor budget the file is [`replace`]d at once instead.
    pub fn stage(
        &self,
        path: &Path,
        original: &Original,
        text: &str,
        bom: bool,
    ) -> Result<(), WriteError> {
        if self.open.load(Ordering::Relaxed) >= self.open_budget {
            return replace(path, original, text, bom);
        }
        let meta = std::fs::metadata(path).map_err(io_err("cannot read its metadata"))?;
        if Stamp::of(&meta) != original.stamp {
            return Err(WriteError::Changed);
        }
        if meta.nlink() > 1 {
            return Err(WriteError::HardLinks(meta.nlink()));
        }
        let tmp = Temp::create(path)?;
        tmp.write(bom, text)?;
        keep_metadata(path, &meta, tmp.file())?;
        self.open.fetch_add(1, Ordering::Relaxed);
        let staged = Staged {
            target: path.to_path_buf(),
            original: original.clone(),
            temp: tmp,
            dev: meta.dev(),
        };
        match &self.stream {
            Some(stream) => {
                if !stream.hand_off.give(staged) {
                    // Only when the committer died (a panic, re-raised at commit): the
                    // file is not staged, and says so.
                    self.open.fetch_sub(1, Ordering::Relaxed);
                    return Err(io_err("cannot stage the new content")(io::Error::other(
                        "the batch's writing thread stopped",
                    )));
                }
            }
            None => self.lock().push(staged),
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Staged>> {
        self.staged.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`commit`](Self::commit), with `work` running on another thread meanwhile: the
    /// syncs leave the CPU idle while the disk catches up. Its result beside the batch's.
    pub fn commit_alongside<R: Send>(
        self,
        work: impl FnOnce() -> R + Send,
    ) -> (Result<(), BatchError>, R) {
        std::thread::scope(|s| {
            let job = s.spawn(work);
            let done = self.commit();
            let result = job
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (done, result)
        })
    }

    /// Sync, check, rename and sync the directories (see [`Batch`]). Files are renamed in
    /// path order (in a streaming batch, within each chunk). A file another writer
    /// changed meanwhile is left alone (and reported); the others are still written, as
    /// [`replace`] would.
    pub fn commit(mut self) -> Result<(), BatchError> {
        if let Some(Stream {
            hand_off,
            committer,
        }) = self.stream.take()
        {
            // The end of staging: the committer commits what is left and finishes.
            hand_off.end(false);
            return committer
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        }
        let staged = std::mem::take(&mut *self.lock());
        if staged.is_empty() {
            return Ok(());
        }
        let mut committer = Committer::new(self.open_budget, Arc::clone(&self.open), false);
        committer.commit_chunk(staged);
        committer.finish()
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.take() {
            // Never committed: the committer renames nothing more and ends.
            stream.hand_off.end(true);
        }
    }
}

/// What commits staged files, one chunk after another, and what it has done so far.
struct Committer {
    failed: Vec<(PathBuf, WriteError)>,
    written: Vec<PathBuf>,
    /// The directories renamed into, synced at the end.
    dirs: BTreeSet<PathBuf>,
    /// Cleared by a failure that stops the batch: later files are dropped, not renamed.
    renaming: bool,
    replaced: Replaced,
    /// Release the replaced files after each chunk (a streaming batch: the closes wait for
    /// the device while more is staged), rather than once at the end.
    release_each_chunk: bool,
    open_budget: usize,
    open: Arc<AtomicUsize>,
}

impl Committer {
    fn new(open_budget: usize, open: Arc<AtomicUsize>, release_each_chunk: bool) -> Self {
        Committer {
            failed: Vec::new(),
            written: Vec::new(),
            dirs: BTreeSet::new(),
            renaming: true,
            replaced: Replaced::default(),
            release_each_chunk,
            open_budget,
            open,
        }
    }

    /// Sync the chunk's files, then check and rename each in path order.
    fn commit_chunk(&mut self, mut staged: Vec<Staged>) {
        let count = staged.len();
        self.commit_chunk_files(&mut staged);
        drop(staged);
        self.open.fetch_sub(count, Ordering::Relaxed);
        if self.release_each_chunk {
            self.release_replaced();
        }
    }

    fn release_replaced(&mut self) {
        let held = std::mem::take(&mut self.replaced).release();
        self.open.fetch_sub(held, Ordering::Relaxed);
    }

    fn commit_chunk_files(&mut self, staged: &mut Vec<Staged>) {
        if !self.renaming {
            return; // dropped by the caller: the temporary files go
        }
        staged.sort_by(|a, b| a.target.cmp(&b.target));
        let synced = sync_staged(staged).and_then(|()| {
            if cfg!(debug_assertions) && std::env::var_os(FAULT_BEFORE_RENAME_ENV).is_some() {
                let error = io_err("injected fault before the renames")(io::Error::other(
                    FAULT_BEFORE_RENAME_ENV,
                ));
                return Err((0, error));
            }
            Ok(())
        });
        if let Err((i, error)) = synced {
            self.failed.push((staged[i].target.clone(), error));
            self.renaming = false;
            return;
        }
        for s in staged.drain(..) {
            let Staged {
                target,
                temp,
                original,
                ..
            } = s;
            if !self.renaming {
                // Dropped: the temporary file goes.
                continue;
            }
            // As late as possible: another writer's change is left alone.
            let done = open_unchanged(&target, &original).and_then(|file| {
                self.hold_replaced(file);
                temp.persist(&target)
            });
            match done {
                Ok(()) => {
                    self.dirs.insert(dir_of(&target).to_path_buf());
                    self.written.push(target);
                }
                Err(e @ WriteError::Changed) => self.failed.push((target, e)),
                Err(e) => {
                    // A rename that fails (not a race) stops the batch here.
                    self.failed.push((target, e));
                    self.renaming = false;
                }
            }
        }
    }

    /// Keep the file about to be replaced open when the descriptor budget has room.
    /// (Otherwise it is closed here and its rename frees it, as before.)
    fn hold_replaced(&mut self, file: File) {
        if self.open.load(Ordering::Relaxed) < self.open_budget {
            self.replaced.files.push(file);
            self.open.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sync the directories renamed into and release the replaced files.
    fn finish(mut self) -> Result<(), BatchError> {
        // The renames themselves are durable once their directories are.
        self.failed
            .extend(sync_directories(std::mem::take(&mut self.dirs)));
        self.release_replaced();
        if self.failed.is_empty() {
            Ok(())
        } else {
            Err(BatchError {
                failed: self.failed,
                written: self.written,
            })
        }
    }
}

/// The files a batch replaces, held open across their renames and released together
/// afterwards, several at a time. The last close of a replaced file frees its blocks; on
/// a filesystem mounted with online discard (ext4 `-o discard`, common on cloud disks)
/// that close waits for the device to discard them, about 0.2 ms a file measured here,
/// which renaming one by one paid in series and in the middle of the renames.
#[derive(Default)]
struct Replaced {
    files: Vec<File>,
}

impl Replaced {
    /// Close every held file, spread over a few threads (the waits are the device's);
    /// returns how many were held.
    fn release(self) -> usize {
        const THREADS: usize = 8;
        let count = self.files.len();
        if count < 2 * THREADS {
            return count; // dropped here, one by one
        }
        let per = count.div_ceil(THREADS);
        let mut files = self.files;
        std::thread::scope(|scope| {
            while !files.is_empty() {
                let chunk: Vec<File> = files.split_off(files.len().saturating_sub(per));
                scope.spawn(move || drop(chunk));
            }
        });
        count
    }
}

/// Raise the soft limit on open files to the hard limit; returns the soft limit now in
/// force.
fn raise_open_files_limit() -> libc::rlim_t {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the duration of each call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above; a refusal leaves the old limit in force.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    limit.rlim_cur
}

/// Make every staged file's content durable: one `syncfs` per filesystem. On failure: the
/// index of a file concerned, and the error.
#[cfg(target_os = "linux")]
fn sync_staged(staged: &[Staged]) -> Result<(), (usize, WriteError)> {
    let mut seen: Vec<u64> = Vec::new();
    for (i, s) in staged.iter().enumerate() {
        if seen.contains(&s.dev) {
            continue;
        }
        seen.push(s.dev);
        rustix::fs::syncfs(s.temp.file())
            .map_err(|e| (i, io_err("cannot sync the new content")(e.into())))?;
    }
    Ok(())
}

/// Make the renames into `dirs` durable: on Linux one `syncfs` per filesystem, which
/// commits every directory at once (one `fsync` per directory measured 0.2–0.5 s for 600
/// directories, `syncfs` 0.07–0.1 s: BENCHMARKS.md); elsewhere one `fsync` per directory.
/// Returns what failed.
fn sync_directories(dirs: BTreeSet<PathBuf>) -> Vec<(PathBuf, WriteError)> {
    let mut failed = Vec::new();
    let mut devs: Vec<u64> = Vec::new();
    for dir in dirs {
        let synced = File::open(&dir).and_then(|d| {
            if cfg!(target_os = "linux") {
                let dev = d.metadata()?.dev();
                if devs.contains(&dev) {
                    return Ok(());
                }
                devs.push(dev);
                sync_filesystem(&d)
            } else {
                d.sync_all()
            }
        });
        if let Err(e) = synced {
            failed.push((dir, io_err("cannot sync its directory")(e)));
        }
    }
    failed
}

/// `syncfs` of the filesystem holding `f` (Linux); `fsync` of `f` elsewhere.
fn sync_filesystem(f: &File) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        rustix::fs::syncfs(f).map_err(io::Error::from)
    }
    #[cfg(not(target_os = "linux"))]
    {
        f.sync_all()
    }
}

/// Make every staged file's content durable: no `syncfs` here, so one `fsync` per file.
#[cfg(not(target_os = "linux"))]
fn sync_staged(staged: &[Staged]) -> Result<(), (usize, WriteError)> {
    for (i, s) in staged.iter().enumerate() {
        s.temp
            .file()
            .sync_all()
            .map_err(|e| (i, io_err("cannot sync the new content")(e)))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Temporary files: named, locked, registered, cleaned up.

/// Paths of the temporary files alive in this process.
fn live() -> MutexGuard<'static, BTreeSet<PathBuf>> {
    static LIVE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Held shared from the creation of a temporary file until it is in [`live`], and taken
/// exclusively (never given back) by the signal handler before it cleans up: no file is
/// created after the cleanup, and none is created but not yet registered during it. Shared,
/// so that threads creating files do not wait for each other (a creation costs ~0.1 ms on
/// ext4 without a journal, in the kernel).
fn creating() -> &'static std::sync::RwLock<()> {
    static GATE: std::sync::RwLock<()> = std::sync::RwLock::new(());
    &GATE
}

/// A temporary file beside its target, removed unless persisted.
struct Temp {
    /// Always `Some` until persisted.
    file: Option<tempfile::NamedTempFile>,
}

impl Temp {
    fn create(target: &Path) -> Result<Temp, WriteError> {
        cleanup_on_signals();
        let dir = dir_of(target);
        sweep_stale_temps(dir);
        let name = target.file_name().unwrap_or(OsStr::new("file")).as_bytes();
        // Room for the mark and the random part within the 255-byte name limit.
        let name = String::from_utf8_lossy(&name[..name.len().min(200)]);
        let prefix = format!(".{name}{TEMP_MARK}");
        let gate = creating().read().unwrap_or_else(|e| e.into_inner());
        let file = tempfile::Builder::new()
            .prefix(&prefix)
            .rand_bytes(6)
            .tempfile_in(dir)
            .map_err(io_err("cannot create a temporary file beside it"))?;
        live().insert(file.path().to_path_buf());
        drop(gate);
        // The lock tells a sweeping run that this file is not stale.
        rustix::fs::flock(file.as_file(), rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io_err("cannot lock the temporary file")(e.into()))?;
        Ok(Temp { file: Some(file) })
    }

    fn named(&self) -> &tempfile::NamedTempFile {
        self.file.as_ref().expect("not persisted yet")
    }

    fn file(&self) -> &File {
        self.named().as_file()
    }

    fn write(&self, bom: bool, text: &str) -> Result<(), WriteError> {
        let mut f = self.file();
        if bom {
            f.write_all("\u{feff}".as_bytes())
                .map_err(io_err("cannot write the new content"))?;
        }
        f.write_all(text.as_bytes())
            .map_err(io_err("cannot write the new content"))
    }

    fn persist(mut self, target: &Path) -> Result<(), WriteError> {
        let named = self.file.take().expect("not persisted yet");
        let path = named.path().to_path_buf();
        // On failure the temporary file comes back in the error and is removed with it.
        let result = named
            .persist(target)
            .map(drop)
            .map_err(|e| io_err("cannot rename the new file over it")(e.error));
        live().remove(&path);
        result
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(named) = self.file.take() {
            // Removed (by the NamedTempFile's drop) before it leaves the registry, so a
            // signal in between still finds it.
            let path = named.path().to_path_buf();
            drop(named);
            live().remove(&path);
        }
    }
}

/// A name harborize gives its temporary files.
pub fn is_temp_name(name: &OsStr) -> bool {
    let b = name.as_bytes();
    b.first() == Some(&b'.') && memchr::memmem::find(b, TEMP_MARK.as_bytes()).is_some()
}

/// Remove temporary files of harborize's beside `file` that no live writer holds (left by
/// a killed run). Each directory is swept once per process.
pub fn sweep_stale_temps_beside(file: &Path) {
    sweep_stale_temps(dir_of(file));
}

fn sweep_stale_temps(dir: &Path) {
    static SWEPT: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    let swept = SWEPT.get_or_init(Default::default);
    if !swept
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(dir.to_path_buf())
    {
        return;
    }
    remove_stale_temps(dir);
}

/// Remove the unlocked temporary files of harborize's in `dir`.
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !is_temp_name(&entry.file_name()) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue;
        };
        // A writer holds its lock until the rename: a lock we get means no one writes it.
        if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// On SIGINT, SIGTERM or SIGHUP: remove the live temporary files, then die of the signal
/// as if it had not been caught. Installed by the first write, so read-only runs keep the
/// default handlers.
fn cleanup_on_signals() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("harborize-signals".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    // Creations under way finish and register first; none starts after.
                    let gate = creating().write().unwrap_or_else(|e| e.into_inner());
                    std::mem::forget(gate);
                    let live = live();
                    for path in live.iter() {
                        let _ = std::fs::remove_file(path);
                    }
                    // Held on purpose (see `live`): the process ends here.
                    std::mem::forget(live);
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                    std::process::exit(128 + signal);
                }
            });
        drop(spawned);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_original(path: &Path) -> (String, Original) {
        let (bytes, stamp) = read(path).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let original = Original::new(stamp, &text, false);
        (text, original)
    }

    #[test]
    fn a_file_appended_to_after_the_read_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("d.yaml");
        std::fs::write(&f, "image: nginx:1.27\n").unwrap();
        let (_, original) = read_original(&f);
        let mut other = std::fs::OpenOptions::new().append(true).open(&f).unwrap();
        other.write_all(b"# another writer\n").unwrap();
        let err = replace(&f, &original, "image: h/nginx:1.27\n", false).unwrap_err();
        assert!(matches!(err, WriteError::Changed), "{err}");
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "image: nginx:1.27\n# another writer\n"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_same_size_change_with_the_old_mtime_is_caught_by_the_content_hash() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("d.yaml");
        std::fs::write(&f, "image: nginx:1.27\n").unwrap();
        let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
        let (_, original) = read_original(&f);
        // Same length, same inode, mtime put back: only the content tells.
        let other = std::fs::OpenOptions::new().write(true).open(&f).unwrap();
        (&other).write_all(b"image: nginx:1.28\n").unwrap();
        other.set_modified(mtime).unwrap();
        let err = replace(&f, &original, "image: h/nginx:1.27\n", false).unwrap_err();
        assert!(matches!(err, WriteError::Changed), "{err}");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "image: nginx:1.28\n");
    }

    /// `count` files `f<i>.yaml` in `dir` (in a few subdirectories), read for replacing.
    fn files_read(dir: &Path, count: usize) -> Vec<(PathBuf, Original)> {
        (0..count)
            .map(|i| {
                let sub = dir.join(format!("d{}", i % 7));
                std::fs::create_dir_all(&sub).unwrap();
                let f = sub.join(format!("f{i}.yaml"));
                std::fs::write(&f, format!("image: nginx:{i}\n")).unwrap();
                let (_, original) = read_original(&f);
                (f, original)
            })
            .collect()
    }

    /// 30 files read, each staged with the same new text in a streaming batch.
    fn streaming_batch_of_30(dir: &Path) -> (Vec<(PathBuf, Original)>, Batch) {
        let files = files_read(dir, 30);
        let batch = Batch::streaming();
        for (f, original) in &files {
            batch.stage(f, original, "image: h/nginx\n", false).unwrap();
        }
        (files, batch)
    }

    /// Every file of [`files_read`] still holds the text it was written with.
    fn assert_every_file_as_it_was(files: &[(PathBuf, Original)]) {
        for (i, (f, _)) in files.iter().enumerate() {
            assert_eq!(
                std::fs::read_to_string(f).unwrap(),
                format!("image: nginx:{i}\n")
            );
        }
    }

    fn temp_files_in(dir: &Path) -> usize {
        (0..7)
            .flat_map(|d| std::fs::read_dir(dir.join(format!("d{d}"))).unwrap())
            .filter(|e| is_temp_name(&e.as_ref().unwrap().file_name()))
            .count()
    }

    #[test]
    fn a_streaming_batch_commits_chunks_while_staging_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let files = files_read(dir.path(), MIN_CHUNK + 40);
        let batch = Batch::streaming();
        for (i, (f, original)) in files.iter().enumerate() {
            batch
                .stage(f, original, &format!("image: h/nginx:{i}\n"), false)
                .unwrap();
        }
        // Staging is not over (the batch is not committed), yet a whole chunk lands.
        let first = &files[0].0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::fs::read_to_string(first).unwrap() != "image: h/nginx:0\n" {
            assert!(
                std::time::Instant::now() < deadline,
                "no chunk was committed while staging"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // A file changed after its staging, in the chunk still waiting, is left alone.
        let (changed, _) = files.last().unwrap();
        std::fs::write(changed, "image: changed-by-another-writer\n").unwrap();
        let err = batch.commit().unwrap_err();
        assert_eq!(err.failed.len(), 1, "{err}");
        assert_eq!(&err.failed[0].0, changed);
        assert!(matches!(err.failed[0].1, WriteError::Changed));
        assert_eq!(err.written.len(), files.len() - 1);
        for (i, (f, _)) in files.iter().enumerate().take(files.len() - 1) {
            assert_eq!(
                std::fs::read_to_string(f).unwrap(),
                format!("image: h/nginx:{i}\n")
            );
        }
        assert_eq!(
            std::fs::read_to_string(changed).unwrap(),
            "image: changed-by-another-writer\n"
        );
        assert_eq!(temp_files_in(dir.path()), 0);
    }

    #[test]
    fn a_streaming_batch_dropped_without_its_commit_renames_nothing_more() {
        let dir = tempfile::tempdir().unwrap();
        let (files, batch) = streaming_batch_of_30(dir.path());
        drop(batch);
        // The committer finishes on its own thread: its temporary files go (renamed, were
        // it broken, or removed), then every file must be as it was.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while temp_files_in(dir.path()) > 0 {
            assert!(std::time::Instant::now() < deadline, "temporary files left");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_every_file_as_it_was(&files);
    }

    #[test]
    fn staging_after_the_writing_thread_stopped_is_an_error_not_a_write() {
        let dir = tempfile::tempdir().unwrap();
        // Seven: one in each directory that `temp_files_in` looks into.
        let files = files_read(dir.path(), 7);
        let batch = Batch::streaming();
        // As if the committer had died.
        batch.stream.as_ref().unwrap().hand_off.lock().gone = true;
        let staged = batch.stage(&files[0].0, &files[0].1, "a: 2\n", false);
        assert!(
            staged.is_err(),
            "a file the committer never got was reported staged"
        );
        assert_eq!(
            batch.open.load(Ordering::Relaxed),
            0,
            "its descriptor is given back"
        );
        assert_eq!(temp_files_in(dir.path()), 0, "its temporary file is gone");
        batch.commit().unwrap();
        assert_every_file_as_it_was(&files);
    }

    #[test]
    fn a_streaming_batch_smaller_than_a_chunk_is_committed_whole_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let (files, batch) = streaming_batch_of_30(dir.path());
        std::thread::sleep(std::time::Duration::from_millis(200));
        // Nothing renamed before the commit: fewer than a chunk's files wait.
        assert_every_file_as_it_was(&files);
        batch.commit().unwrap();
        for (f, _) in &files {
            assert_eq!(std::fs::read_to_string(f).unwrap(), "image: h/nginx\n");
        }
        assert_eq!(temp_files_in(dir.path()), 0);
    }

    #[test]
    fn an_unchanged_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("d.yaml");
        std::fs::write(&f, "\u{feff}image: nginx:1.27\n").unwrap();
        let (bytes, stamp) = read(&f).unwrap();
        let Content::Text { text, bom } = decode(bytes) else {
            panic!("text")
        };
        let original = Original::new(stamp, &text, bom);
        replace(&f, &original, "image: h/nginx:1.27\n", bom).unwrap();
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "\u{feff}image: h/nginx:1.27\n"
        );
    }

    #[test]
    fn temp_files_are_named_after_their_target_and_recognizable() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = Temp::create(&dir.path().join("deploy.yaml")).unwrap();
        let name = tmp.named().path().file_name().unwrap().to_owned();
        let s = name.to_str().unwrap();
        assert!(s.starts_with(".deploy.yaml.harborize-tmp-"), "{s}");
        assert!(is_temp_name(&name));
        assert!(!is_temp_name(OsStr::new("deploy.yaml")));
        assert!(!is_temp_name(OsStr::new("harborize-tmp-notes.yaml")));
        drop(tmp);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn sweeping_removes_stale_temp_files_but_not_live_ones_or_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".a.yaml.harborize-tmp-AbC123");
        std::fs::write(&stale, "image: half-writ").unwrap();
        let keep = dir.path().join(".harborize-notes");
        std::fs::write(&keep, "mine").unwrap();
        // A live writer (another process would hold the same kind of lock).
        let live = Temp::create(&dir.path().join("b.yaml")).unwrap();
        std::fs::write(&stale, "image: half-writ").unwrap();
        remove_stale_temps(dir.path());
        assert!(!stale.exists(), "stale temp file left");
        assert!(keep.exists(), "a file that is not ours was removed");
        assert!(live.named().path().exists(), "a live temp file was removed");
    }
}
