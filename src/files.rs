//! The small files a config or an admin names (certificates, keys, CA bundles, SAML metadata),
//! read with a bound: a path an admin can set through the API (an LDAP `rootCA`) must not make
//! the server read `/dev/zero` until memory runs out.

use std::io::Read;
use std::path::Path;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::{self, PemObject};

/// The most such a file may hold: the system's whole CA bundle is about 200 KB, one IdP's
/// metadata far less.
pub const LIMIT: u64 = 4 * 1024 * 1024;

/// The file's bytes, or an error when it is not a regular file or holds more than [`LIMIT`].
pub fn read_limited(path: impl AsRef<Path>) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    // Not blocking at open: a FIFO with no writer would hold the thread (and with it a
    // runtime worker) until someone writes. Only a regular file is read: a FIFO, a device
    // or /proc entry is no certificate.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut buf = Vec::new();
    f.take(LIMIT + 1).read_to_end(&mut buf)?;
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

/// One PEM object (a certificate, a key) from a file read as [`read_limited`] reads it.
pub fn read_pem<T: PemObject>(path: impl AsRef<Path>) -> Result<T, pem::Error> {
    T::from_pem_slice(&read_limited(path).map_err(pem::Error::Io)?)
}

/// Every PEM certificate in a file read as [`read_limited`] reads it (none when it has none).
pub fn read_pem_certs(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>, pem::Error> {
    CertificateDer::pem_slice_iter(&read_limited(path).map_err(pem::Error::Io)?).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_fifos_are_refused_without_blocking() {
        for p in ["/dev/zero", "/dev/urandom", "/dev/stdin"] {
            let e = read_limited(p).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{p}: {e}");
        }
        // A regular file by its type that cannot be read is an error, not a hang.
        assert!(read_limited("/proc/self/mem").is_err());
        // A FIFO with no writer: opening it blocking would wait for ever.
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let e = read_limited(&fifo).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    #[test]
    fn a_sparse_file_past_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sparse.pem");
        std::fs::File::create(&p)
            .unwrap()
            .set_len(10 << 30)
            .unwrap();
        let e = read_limited(&p).unwrap_err();
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
