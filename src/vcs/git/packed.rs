//! A commit's new objects written as one pack, not one file each.
//!
//! A 600-file bump makes some 1,400 objects (its blobs and every tree above them). Written
//! loose, each is a new file, and libgit2's filtering blob writer adds a temporary file per
//! blob: about 2,000 new inodes per bump, measured with `strace`. On ext4 without a journal
//! every new inode is searched past the inodes freed in the last seconds
//! (`recently_deleted` in the kernel's profile: with the files an atomic rewrite has just
//! replaced, and the other bumps of a race doing the same, that search was the largest
//! single cost of a bump). Here the objects go to memory (libgit2's mempack backend) and
//! then into one pack, as `git push` would deliver them, with its index made from what the
//! pack was made of (libgit2's indexer inflated and hashed every object again to learn
//! it: a fifth of a replay's CPU).
//!
//! Only for a repository handle of its own, dropped right after: the in-memory backend
//! cannot be taken off a handle again.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::{Context, Result};
use git2::{ObjectType, Oid, Repository};

use super::objects::tree_changes;

/// Higher than libgit2's loose (1) and pack (2) backends: every write goes to memory.
const IN_MEMORY_FIRST: i32 = 1000;

/// Run `write` on `repo` (a handle of its own, used up here) with every object it writes
/// held in memory, then store the objects `write` names (the tree it returns with
/// everything under it that differs from its base tree) as one pack. Objects written but
/// not named are dropped: nothing can refer to them. Named objects the repository stores
/// already are not packed again (a replay's merged trees name the bump's blobs, which its
/// first commit stored). Returns what `write` returned, once the pack and its index are on
/// disk.
pub(super) fn write_packed<T>(
    repo: Repository,
    write: impl FnOnce(&Repository) -> Result<Written<T>>,
) -> Result<T> {
    let stored = stored_objects(&repo);
    let odb = repo.odb()?;
    let _memory = odb.add_new_mempack_backend(IN_MEMORY_FIRST)?;
    let written = write(&repo)?;
    let mut ids = Vec::new();
    tree_changes(&repo, written.tree, written.base, &mut ids)?;
    // A blob or tree at two paths is listed twice; a pack holds it once.
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(*id));
    if let Some(stored) = stored {
        ids.retain(|id| !stored.exists_ext(*id, git2::OdbLookupFlags::NO_REFRESH));
    }
    if !ids.is_empty() {
        let pack = pack_of(&odb, &ids)?;
        // Where libgit2's pack backend reads packs: the common directory of a linked
        // work tree too. Its next lookup of an object it does not know finds the pack.
        store(&repo.commondir().join("objects/pack"), &pack)
            .context("cannot write the new objects as a pack")?;
    }
    Ok(written.value)
}

/// A pack made here and, per object, what its index lists.
struct Pack {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

impl Pack {
    /// The pack's trailing SHA-1 of everything before it: its name, and the last field of
    /// its index.
    fn checksum(&self) -> &[u8] {
        &self.bytes[self.bytes.len() - 20..]
    }
}

/// An object of a [`Pack`]: its id, where it starts, and the CRC-32 of its packed bytes.
struct Entry {
    id: Oid,
    offset: u64,
    crc: u32,
}

/// Put `pack` and its index in `dir` as `pack-<checksum>.pack` and `.idx`, each written
/// under a temporary name first, the pack renamed before its index, as git does: a reader
/// never finds an index without its pack. The index is made here from what the pack was
/// made of (libgit2's indexer would inflate and hash every object again to learn it).
fn store(dir: &Path, pack: &Pack) -> Result<()> {
    let name = Oid::from_bytes(pack.checksum())?;
    let index = index_of(pack);
    let pack_file = read_only_temp(dir, "tmp_pack_", &pack.bytes)?;
    let index_file = read_only_temp(dir, "tmp_idx_", &index)?;
    pack_file.persist(dir.join(format!("pack-{name}.pack")))?;
    index_file.persist(dir.join(format!("pack-{name}.idx")))?;
    Ok(())
}

/// `bytes` in a new file of `dir`, read-only like every pack file git writes; removed
/// again unless persisted.
fn read_only_temp(dir: &Path, prefix: &str, bytes: &[u8]) -> Result<tempfile::NamedTempFile> {
    let mut file = tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::fs::Permissions::from_mode(0o444))
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    file.write_all(bytes)?;
    Ok(file)
}

/// The version 2 index of `pack`: the fan-out table, the sorted ids, their CRC-32s and
/// offsets (those past 2 GiB in a table of their own), the pack's checksum, and the
/// index's own.
fn index_of(pack: &Pack) -> Vec<u8> {
    use sha1::Digest as _;
    let mut order: Vec<&Entry> = pack.entries.iter().collect();
    order.sort_unstable_by_key(|e| e.id);
    let mut out = Vec::with_capacity(1072 + order.len() * 28 + 40);
    out.extend_from_slice(b"\xfftOc");
    out.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for e in &order {
        fanout[usize::from(e.id.as_bytes()[0])] += 1;
    }
    let mut total = 0u32;
    for count in fanout {
        total += count;
        out.extend_from_slice(&total.to_be_bytes());
    }
    for e in &order {
        out.extend_from_slice(e.id.as_bytes());
    }
    for e in &order {
        out.extend_from_slice(&e.crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for e in &order {
        let small = match u32::try_from(e.offset) {
            Ok(o) if o < 0x8000_0000 => o,
            _ => {
                large.push(e.offset);
                0x8000_0000 | (large.len() - 1) as u32
            }
        };
        out.extend_from_slice(&small.to_be_bytes());
    }
    for offset in large {
        out.extend_from_slice(&offset.to_be_bytes());
    }
    out.extend_from_slice(pack.checksum());
    let sum = sha1::Sha1::digest(&out);
    out.extend_from_slice(&sum);
    out
}

/// What [`write_packed`]'s closure made: its result and the new objects to keep.
pub(super) struct Written<T> {
    pub value: T,
    /// The new tree: it and every tree and blob under it that differs from `base`'s
    /// entry at the same path are kept.
    pub tree: Oid,
    /// The tree it replaces (HEAD's, the remote head's), if any.
    pub base: Option<Oid>,
}

/// The repository's object store on disk, without the in-memory backend `write_packed`
/// adds to its handle: what is stored already. `None` when it cannot be opened; then every
/// named object is packed, which is only redundant.
fn stored_objects(repo: &Repository) -> Option<git2::Odb<'static>> {
    let objects = repo.commondir().join("objects");
    let odb = git2::Odb::new().ok()?;
    odb.add_disk_alternate(objects.to_str()?).ok()?;
    Some(odb)
}

/// A version 2 pack of `ids`, every object whole (no deltas: searching for them cost more
/// CPU than the 2,000 files it saves, measured with libgit2's pack builder), compressed at
/// the level git uses for loose objects.
fn pack_of(odb: &git2::Odb<'_>, ids: &[Oid]) -> Result<Pack> {
    use sha1::Digest as _;
    let mut out = Vec::with_capacity(ids.len() * 256);
    out.extend_from_slice(b"PACK");
    out.extend_from_slice(&2u32.to_be_bytes());
    let count = u32::try_from(ids.len()).context("too many objects for one pack")?;
    out.extend_from_slice(&count.to_be_bytes());
    // One compressor for every object, reset between them rather than made anew (a new
    // one allocates its tables; a reset still clears them, so this saves the allocation).
    let mut z = flate2::Compress::new(flate2::Compression::fast(), true);
    let mut entries = Vec::with_capacity(ids.len());
    for &id in ids {
        let offset = out.len();
        let object = odb.read(id)?;
        let kind: u8 = match object.kind() {
            ObjectType::Commit => 1,
            ObjectType::Tree => 2,
            ObjectType::Blob => 3,
            ObjectType::Tag => 4,
            other => anyhow::bail!("object {id} of kind {other:?} cannot be packed"),
        };
        let data = object.data();
        // Type and size: 4 bits of size in the first byte, then 7 per byte.
        let mut size = data.len();
        let mut byte = (kind << 4) | (size & 0x0f) as u8;
        size >>= 4;
        while size > 0 {
            out.push(byte | 0x80);
            byte = (size & 0x7f) as u8;
            size >>= 7;
        }
        out.push(byte);
        deflate_into(&mut z, data, &mut out)?;
        let mut crc = flate2::Crc::new();
        crc.update(&out[offset..]);
        entries.push(Entry {
            id,
            offset: offset as u64,
            crc: crc.sum(),
        });
    }
    let sum = sha1::Sha1::digest(&out);
    out.extend_from_slice(&sum);
    Ok(Pack {
        bytes: out,
        entries,
    })
}

/// Append `data` to `out` as one zlib stream, with `z` reset first.
fn deflate_into(z: &mut flate2::Compress, data: &[u8], out: &mut Vec<u8>) -> Result<()> {
    z.reset();
    // Deflate's worst case is a few bytes per 16 KiB block over the input, plus the
    // stream's header and checksum; the loop covers anything beyond.
    out.reserve(data.len() + data.len() / 1024 + 64);
    let start = z.total_in();
    loop {
        let read = usize::try_from(z.total_in() - start)?;
        match z.compress_vec(&data[read..], out, flate2::FlushCompress::Finish)? {
            flate2::Status::StreamEnd => return Ok(()),
            _ => out.reserve(1024),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcs::git::git_cli as git;
    use git2::build::TreeUpdateBuilder;
    use git2::FileMode;
    use std::os::unix::fs::MetadataExt as _;
    use std::path::Path;

    /// Loose object files and pack files under the repository's objects directory.
    fn object_files(root: &Path) -> (usize, usize) {
        let (mut loose, mut packs) = (0, 0);
        for dir in std::fs::read_dir(root.join(".git/objects"))
            .unwrap()
            .flatten()
        {
            let name = dir.file_name().to_string_lossy().into_owned();
            for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
                let f = f.file_name().to_string_lossy().into_owned();
                if name.len() == 2 {
                    loose += 1;
                } else if name == "pack" && f.ends_with(".pack") {
                    packs += 1;
                }
            }
        }
        (loose, packs)
    }

    fn seeded() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        std::fs::create_dir_all(root.join("apps/a/base")).unwrap();
        std::fs::write(root.join("apps/a/base/d.yaml"), "image: nginx:1\n").unwrap();
        std::fs::write(root.join("top.yaml"), "image: redis:7\n").unwrap();
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", "seed"]);
        dir
    }

    #[test]
    fn new_objects_land_in_one_pack_that_git_reads_and_nothing_loose() {
        let dir = seeded();
        let root = dir.path();
        let before = object_files(root);
        let repo = Repository::open(root).unwrap();
        let tree = write_packed(repo, |repo| {
            let base = repo.head()?.peel_to_tree()?;
            let mut update = TreeUpdateBuilder::new();
            for (path, text) in [
                ("apps/a/base/d.yaml", "image: nginx:2\n"),
                ("apps/b/new/e.yaml", "image: alpine:3\n"),
            ] {
                update.upsert(path, repo.blob(text.as_bytes())?, FileMode::Blob);
            }
            let tree = update.create_updated(repo, &base)?;
            Ok(Written {
                value: tree,
                tree,
                base: Some(base.id()),
            })
        })
        .unwrap();
        assert_eq!(object_files(root), (before.0, before.1 + 1));
        // Every object of the new tree is there for git itself: a commit of it passes
        // a strict fsck, and the files read back.
        let commit = git(
            root,
            &["commit-tree", &tree.to_string(), "-p", "HEAD", "-m", "t"],
        );
        git(root, &["update-ref", "HEAD", commit.trim()]);
        git(root, &["fsck", "--strict", "--no-dangling"]);
        assert_eq!(
            git(root, &["show", "HEAD:apps/b/new/e.yaml"]),
            "image: alpine:3\n"
        );
        assert_eq!(
            git(root, &["show", "HEAD:apps/a/base/d.yaml"]),
            "image: nginx:2\n"
        );
        assert_eq!(git(root, &["show", "HEAD:top.yaml"]), "image: redis:7\n");
        // The index made here is the one git makes of the same pack, byte for byte, and
        // both files are read-only, as git leaves them.
        // The seed's objects are loose, so the only pack is the one written here.
        let packs: Vec<_> = std::fs::read_dir(root.join(".git/objects/pack"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "pack"))
            .collect();
        let [pack] = packs.as_slice() else {
            panic!("one pack expected: {packs:?}")
        };
        let theirs = tempfile::tempdir().unwrap();
        let copy = theirs.path().join("copy.pack");
        std::fs::copy(pack, &copy).unwrap();
        git(root, &["index-pack", copy.to_str().unwrap()]);
        let ours = pack.with_extension("idx");
        assert_eq!(
            std::fs::read(&ours).unwrap(),
            std::fs::read(theirs.path().join("copy.idx")).unwrap()
        );
        for f in [pack, &ours] {
            assert_eq!(std::fs::metadata(f).unwrap().mode() & 0o222, 0, "{f:?}");
        }
        // Nothing temporary is left beside them.
        let names: Vec<String> = std::fs::read_dir(root.join(".git/objects/pack"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| n.starts_with("pack-")), "{names:?}");
    }

    #[test]
    fn offsets_past_2_gib_go_to_the_large_offset_table() {
        let id = |b: u8| Oid::from_bytes(&[b; 20]).unwrap();
        let mut bytes = vec![0u8; 12];
        bytes.extend_from_slice(&[7u8; 20]);
        let pack = Pack {
            bytes,
            entries: vec![
                Entry {
                    id: id(0xbb),
                    offset: 0x1_2345_6789,
                    crc: 2,
                },
                Entry {
                    id: id(0xaa),
                    offset: 12,
                    crc: 1,
                },
            ],
        };
        let index = index_of(&pack);
        let word = |at: usize| u32::from_be_bytes(index[at..at + 4].try_into().unwrap());
        // Header, fan-out (cumulative), ids in order, CRCs, offsets, large offsets.
        assert_eq!(&index[..8], b"\xfftOc\0\0\0\x02");
        assert_eq!(word(8 + 4 * 0xa9), 0);
        assert_eq!(word(8 + 4 * 0xaa), 1);
        assert_eq!(word(8 + 4 * 255), 2);
        let ids = 8 + 1024;
        assert_eq!(&index[ids..ids + 20], &[0xaa; 20]);
        let crcs = ids + 40;
        assert_eq!((word(crcs), word(crcs + 4)), (1, 2));
        let offsets = crcs + 8;
        assert_eq!((word(offsets), word(offsets + 4)), (12, 0x8000_0000));
        let large = offsets + 8;
        assert_eq!(
            u64::from_be_bytes(index[large..large + 8].try_into().unwrap()),
            0x1_2345_6789
        );
        assert_eq!(&index[large + 8..large + 28], &[7u8; 20]);
        assert_eq!(index.len(), large + 8 + 40);
    }

    /// The objects of the pack `write_packed` adds to `root` while `f` runs.
    fn objects_of_new_pack(root: &Path, f: impl FnOnce()) -> Vec<String> {
        let packs = |root: &Path| -> std::collections::BTreeSet<std::path::PathBuf> {
            std::fs::read_dir(root.join(".git/objects/pack"))
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "idx"))
                .collect()
        };
        let before = packs(root);
        f();
        let new: Vec<_> = packs(root).difference(&before).cloned().collect();
        assert_eq!(new.len(), 1, "one new pack");
        let out = std::process::Command::new("git")
            .arg("show-index")
            .stdin(std::fs::File::open(&new[0]).unwrap())
            .output()
            .unwrap();
        let mut ids: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split(' ').nth(1).unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn one_reused_compressor_makes_a_whole_stream_per_object() {
        // Empty, tiny, repetitive and incompressible inputs (the last larger than the
        // first reservation), one after another into one buffer, as a pack holds them.
        let mut noise = Vec::with_capacity(200_000);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        while noise.len() < 200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            noise.extend_from_slice(&x.to_le_bytes());
        }
        let inputs: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"image: nginx:1\n".to_vec(),
            b"image: nginx:1\n".repeat(5_000),
            noise,
            b"tail".to_vec(),
        ];
        let mut z = flate2::Compress::new(flate2::Compression::fast(), true);
        let mut out = b"PACK".to_vec();
        let mut bounds = Vec::new();
        for data in &inputs {
            let start = out.len();
            deflate_into(&mut z, data, &mut out).unwrap();
            bounds.push(start..out.len());
        }
        for (data, range) in inputs.iter().zip(bounds) {
            let mut back = Vec::new();
            let mut reader = flate2::read::ZlibDecoder::new(&out[range.clone()]);
            std::io::Read::read_to_end(&mut reader, &mut back).unwrap();
            assert_eq!(&back, data);
            // The stream ends where the next begins: nothing of it is left over.
            assert_eq!(reader.total_in() as usize, range.len());
        }
    }

    #[test]
    fn objects_stored_already_are_not_packed_again() {
        let dir = seeded();
        let root = dir.path();
        // One file written onto a tree (`on`, else HEAD's), packed against HEAD's tree:
        // the new tree and blob, and the ids of the pack's objects.
        let pack_one = |on: Option<Oid>, path: &str, text: &str| {
            let mut made = (Oid::zero(), Oid::zero());
            let ids = objects_of_new_pack(root, || {
                let repo = Repository::open(root).unwrap();
                write_packed(repo, |repo| {
                    let base = repo.head()?.peel_to_tree()?;
                    let onto = match on {
                        Some(id) => repo.find_tree(id)?,
                        None => base.clone(),
                    };
                    let blob = repo.blob(text.as_bytes())?;
                    let mut update = TreeUpdateBuilder::new();
                    update.upsert(path, blob, FileMode::Blob);
                    let tree = update.create_updated(repo, &onto)?;
                    made = (tree, blob);
                    Ok(Written {
                        value: (),
                        tree,
                        base: Some(base.id()),
                    })
                })
                .unwrap();
            });
            (made, ids)
        };
        let ((first_tree, first_blob), first) =
            pack_one(None, "apps/a/base/d.yaml", "image: nginx:2\n");
        assert!(first.contains(&first_blob.to_string()));
        // A second tree on the first, packed against HEAD's tree too: it names the first
        // blob again and one new blob. The new pack holds the new blob and the new trees,
        // not the stored blob.
        let ((_, new_blob), second) =
            pack_one(Some(first_tree), "apps/b/e.yaml", "image: alpine:3\n");
        assert!(second.contains(&new_blob.to_string()));
        assert!(
            !second.contains(&first_blob.to_string()),
            "the stored blob was packed again"
        );
        // The new root tree, apps/ and apps/b/ (apps/a/ and apps/a/base/ are stored).
        assert_eq!(second.len(), 4, "{second:?}");
    }

    #[test]
    fn a_failed_write_leaves_no_pack_and_nothing_loose() {
        let dir = seeded();
        let root = dir.path();
        let before = object_files(root);
        let repo = Repository::open(root).unwrap();
        let failed: Result<()> = write_packed(repo, |repo| {
            repo.blob(b"written, then the run fails")?;
            anyhow::bail!("the merge failed")
        });
        assert!(failed.is_err());
        assert_eq!(object_files(root), before);
    }
}
