//! The scratch copy a render works on: the inputs of a chart or a kustomization copied
//! to a temporary directory, where the planned texts are put in place of the files before
//! rendering "after", so nothing in the repository is touched until the proof holds.
//!
//! The copy must render as the original does. A symlink is the delicate part: copied as
//! what it leads to, a link to a parent directory (`loop -> ..`, harmless to kustomize,
//! which reads only what is listed) would copy the tree again at every level until the
//! path fails, and a planned edit of a link's target would not show through the copy of
//! the link. So a link whose text stays inside the copied tree is copied as the same
//! link, and resolves in the copy as in the original. Any other link is copied as what
//! it leads to (a link out of the tree is read there, by the renderer too), except one
//! that leads back to a directory being copied or above it: that is a cycle no render
//! reads through (kustomize reads only what is listed, and what a kustomization lists
//! through a link is part of the copied tree already), so it is left out of the copy.
//! Leaving it out changes both renders alike: a render that needed it fails before and
//! after, and the edits stay unproven rather than proven by mistake.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Copy the directory tree `from` to `to` (`.git` left out; see the module docs).
/// `within` is `from` or a directory above it whose copy holds `to` at the same place
/// (the root of the scratch copy): a symlink whose text stays inside it is copied as the
/// same link.
pub(super) fn copy_tree(from: &Path, to: &Path, within: &Path) -> io::Result<()> {
    let mut open = vec![std::fs::canonicalize(from)?];
    copy_dir(within, from, to, &mut open)
}

/// Copy `dir` (under `root`) to `to`; `open` holds the real paths of the directories
/// being copied, outermost first.
fn copy_dir(root: &Path, dir: &Path, to: &Path, open: &mut Vec<PathBuf>) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type()?.is_symlink() {
            let link = std::fs::read_link(&src)?;
            if stays_inside(root, dir, &link) {
                std::os::unix::fs::symlink(&link, &dst)?;
                continue;
            }
        }
        let meta = std::fs::metadata(&src)?;
        if meta.is_dir() {
            let real = std::fs::canonicalize(&src)?;
            // A link to a directory being copied, or to one above it: a cycle (a real
            // directory is never above the one it is in).
            if open.iter().any(|o| o.starts_with(&real)) {
                continue;
            }
            open.push(real);
            copy_dir(root, &src, &dst, open)?;
            open.pop();
        } else if meta.is_file() {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// Whether the symlink text `link`, found in `dir` under `root`, names a path inside
/// `root` by its text alone (relative, its `..` steps never climbing above `root`): the
/// same link then resolves inside the copy.
fn stays_inside(root: &Path, dir: &Path, link: &Path) -> bool {
    let Ok(below) = dir.strip_prefix(root) else {
        return false;
    };
    let mut depth = below.components().count();
    for c in link.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(_) => depth += 1,
            Component::ParentDir if depth > 0 => depth -= 1,
            // Above the root, or absolute.
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const DEPLOY: &str = "kind: Deployment\n";

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// `dir/base/deploy.yaml`; `dir`.
    fn tree_with_a_base(dir: PathBuf) -> PathBuf {
        write(&dir.join("base/deploy.yaml"), DEPLOY);
        dir
    }

    fn link_text(path: PathBuf) -> PathBuf {
        std::fs::read_link(path).unwrap()
    }

    fn absent(path: PathBuf) -> bool {
        std::fs::symlink_metadata(path).is_err()
    }

    #[test]
    fn links_inside_the_tree_stay_links_and_links_out_of_it_are_copied() {
        let tmp = tempfile::tempdir().unwrap();
        let (tree, outside) = (
            tree_with_a_base(tmp.path().join("tree")),
            tmp.path().join("outside"),
        );
        write(&outside.join("shared.yaml"), "kind: ConfigMap\n");
        // A cycle, a file link inside the tree, a link out of it.
        symlink("..", tree.join("base/loop")).unwrap();
        symlink("base/deploy.yaml", tree.join("linked.yaml")).unwrap();
        symlink("../../outside", tree.join("base/out")).unwrap();
        let copy = tmp.path().join("copy");
        copy_tree(&tree, &copy, &tree).unwrap();
        assert_eq!(link_text(copy.join("base/loop")), Path::new(".."));
        assert_eq!(
            link_text(copy.join("linked.yaml")),
            Path::new("base/deploy.yaml")
        );
        // The link out of the tree is a directory of its own in the copy.
        let out = copy.join("base/out");
        assert!(std::fs::symlink_metadata(&out).unwrap().is_dir());
        assert_eq!(
            std::fs::read_to_string(out.join("shared.yaml")).unwrap(),
            "kind: ConfigMap\n"
        );
        // The copy resolves as the original does: through the cycle and the file link.
        assert_eq!(
            std::fs::read_to_string(copy.join("base/loop/base/loop/linked.yaml")).unwrap(),
            DEPLOY
        );
    }

    #[test]
    fn a_link_out_of_the_tree_that_leads_back_into_it_is_left_out() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tree_with_a_base(tmp.path().join("tree"));
        // An absolute link is not followed as text; it leads back to the tree's root.
        symlink(&tree, tree.join("base/back")).unwrap();
        let copy = tmp.path().join("copy");
        copy_tree(&tree, &copy, &tree).unwrap();
        assert!(absent(copy.join("base/back")));
        assert_eq!(
            std::fs::read_to_string(copy.join("base/deploy.yaml")).unwrap(),
            DEPLOY
        );
    }

    /// A directory copied at its place in a larger scratch copy keeps a link that climbs
    /// out of it but stays inside the scratch root (kustomize copies each included
    /// directory so).
    #[test]
    fn links_stay_links_up_to_the_scratch_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tree_with_a_base(tmp.path().join("repo"));
        symlink("..", root.join("base/loop")).unwrap();
        let copy = tmp.path().join("copy");
        copy_tree(&root.join("base"), &copy.join("base"), &root).unwrap();
        assert_eq!(link_text(copy.join("base/loop")), Path::new(".."));
        // Copied as the directory itself, the same link climbs out of it and leads back
        // into the directory being copied: left out.
        let alone = tmp.path().join("alone");
        copy_tree(&root.join("base"), &alone, &root.join("base")).unwrap();
        assert!(absent(alone.join("loop")));
        assert!(alone.join("deploy.yaml").is_file());
    }

    #[test]
    fn only_relative_links_that_stay_below_the_root_stay_inside() {
        let root = Path::new("/r");
        let inside = [
            ("/r/a", "../b"),
            ("/r/a/b", "../../c"),
            ("/r", "./x"),
            ("/r/a", ".."),
        ];
        for (dir, link) in inside {
            assert!(
                stays_inside(root, Path::new(dir), Path::new(link)),
                "{dir} {link}"
            );
        }
        let outside = [
            ("/r/a", "../../b"),
            ("/r", ".."),
            ("/r/a", "/r/a"),
            ("/elsewhere", "x"),
        ];
        for (dir, link) in outside {
            assert!(
                !stays_inside(root, Path::new(dir), Path::new(link)),
                "{dir} {link}"
            );
        }
    }
}
