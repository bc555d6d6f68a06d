//! Files that hold a user's tokens (the kubectl cache, the registry credential store): written
//! whole or not at all, readable by their owner only, and never through a link someone else
//! planted in the directory.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Replace `p` with `data`. The bytes go to a new file with an unpredictable name, created
/// with O_CREAT|O_EXCL (which fails on any existing name, a symbolic link included, so a
/// planted link cannot redirect the write) and O_NOFOLLOW, then renamed over `p`.
pub fn write(p: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = p.parent() {
        create_dir(dir)?;
    }
    let tmp = temp_name(p);
    let written = create_new(&tmp).and_then(|mut f| {
        f.write_all(data)?;
        f.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&tmp, p)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The lock file beside `p`, opened without following a link planted at its name.
pub fn open_lock(p: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    o.open(p)
}

fn temp_name(p: &Path) -> PathBuf {
    let mut name = p.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", crate::secret::random_token(9)));
    p.with_file_name(name)
}

fn create_new(p: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    o.open(p)
}

/// A folder of `p`'s kind: made readable by its owner only when it does not exist yet.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_link_planted_at_the_old_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let cache = dir.path().join("cache.json");
        // Where the writer used to put its temporary file, a predictable name.
        std::os::unix::fs::symlink(&victim, dir.path().join("cache.tmp")).unwrap();
        write(&cache, b"{\"token\":1}").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert_eq!(std::fs::read_to_string(&cache).unwrap(), "{\"token\":1}");
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp") && n != "cache.tmp")
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn an_existing_name_or_link_is_never_opened_for_writing() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(create_new(&link).is_err());
        assert!(create_new(&victim).is_err());
        assert!(
            open_lock(&link).is_err(),
            "a link at the lock's name is not followed"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    }

    #[test]
    fn new_folders_are_the_owners_alone() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("kube/cache/gantry");
        write(&cache.join("t.json"), b"{}").unwrap();
        for d in [dir.path().join("kube/cache"), cache] {
            let mode = std::fs::metadata(&d).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}", d.display());
        }
    }
}
