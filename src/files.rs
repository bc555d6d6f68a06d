//! The small files a config or an admin names (certificates, keys, CA bundles, SAML metadata),
//! read with a bound: a path an admin can set through the API (an LDAP `rootCA`) must not make
//! the server read `/dev/zero` until memory runs out.

use std::io::Read;
use std::path::Path;

/// The most such a file may hold: the system's whole CA bundle is about 200 KB, one IdP's
/// metadata far less.
pub const LIMIT: u64 = 4 * 1024 * 1024;

/// The file's bytes, or an error when it holds more than [`LIMIT`].
pub fn read_limited(path: impl AsRef<Path>) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(LIMIT + 1)
        .read_to_end(&mut buf)?;
    if buf.len() as u64 > LIMIT {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} MiB", LIMIT >> 20),
        ));
    }
    Ok(buf)
}

/// [`read_limited`], as UTF-8 text.
pub fn read_limited_to_string(path: impl AsRef<Path>) -> std::io::Result<String> {
    String::from_utf8(read_limited(path)?)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_file_is_refused_after_the_limit() {
        let e = read_limited("/dev/zero").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("larger than 4 MiB"), "{e}");
    }

    #[test]
    fn a_file_up_to_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, vec![b'a'; LIMIT as usize]).unwrap();
        assert_eq!(read_limited(&p).unwrap().len() as u64, LIMIT);
        std::fs::write(&p, vec![b'a'; LIMIT as usize + 1]).unwrap();
        assert!(read_limited(&p).is_err());
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(read_limited_to_string(&p).is_err());
    }
}
