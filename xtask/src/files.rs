//! Copying a directory tree: the one `copy_tree`, used by xtask (the bench's working
//! directories, the demo's examples) and by the integration tests, which include this file
//! (`#[path]`), so it needs nothing beyond std.

use std::fs;
use std::io;
use std::path::Path;

/// Copies the directory `from` into `to` (created when missing), recursively. Symbolic links
/// are followed, so a linked directory is copied as files. Errors name the path involved.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to).map_err(at("creating", to))?;
    for entry in fs::read_dir(from).map_err(at("reading", from))? {
        let source = entry.map_err(at("reading", from))?.path();
        let target = to.join(source.file_name().unwrap_or_default());
        if fs::metadata(&source)
            .map_err(at("reading", &source))?
            .is_dir()
        {
            copy_tree(&source, &target)?;
        } else {
            fs::copy(&source, &target).map_err(at("copying to", &target))?;
        }
    }
    Ok(())
}

/// Adds what was being done, and to which path, to an I/O error.
fn at<'a>(doing: &'a str, path: &'a Path) -> impl FnOnce(io::Error) -> io::Error + 'a {
    move |e| io::Error::new(e.kind(), format!("{doing} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_nested_files_and_follows_linked_directories() {
        let base = std::env::temp_dir().join(format!("xtask-files-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let from = base.join("from");
        fs::create_dir_all(from.join("a/b")).unwrap();
        fs::write(from.join("top.tf"), "top").unwrap();
        fs::write(from.join("a/b/deep.tf"), "deep").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(from.join("a"), from.join("linked")).unwrap();

        copy_tree(&from, &base.join("to")).unwrap();
        let read = |rel: &str| fs::read_to_string(base.join("to").join(rel)).unwrap();
        assert_eq!(read("top.tf"), "top");
        assert_eq!(read("a/b/deep.tf"), "deep");
        #[cfg(unix)]
        {
            assert_eq!(read("linked/b/deep.tf"), "deep");
            assert!(
                !fs::symlink_metadata(base.join("to/linked"))
                    .unwrap()
                    .is_symlink()
            );
        }

        let err = copy_tree(&base.join("missing"), &base.join("elsewhere")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        let _ = fs::remove_dir_all(&base);
    }
}
