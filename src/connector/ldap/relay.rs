//! The relay between ldap3 and the directory's connection. ldap3 gets one end of a socket
//! pair and speaks plain LDAP over it; the relay forwards ldap3's requests to the directory
//! as they are, noting what each one waits for, and forwards the directory's messages only
//! after `frame` has checked them against those requests.
//!
//! On a message that fails, nothing of it reaches ldap3: the relay records why, closes both
//! connections, and ldap3 sees the end of the stream, which fails the operation in flight as
//! a connection error. Never forwards a partial message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::frame::{self, Awaiting, Malformed};

/// Why a relay closed its connection, when the directory's message was at fault.
pub type Fault = Arc<OnceLock<String>>;

#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Malformed(#[from] Malformed),
}

/// Start relaying `directory` (already through TLS, when there is TLS); the socket to hand to
/// ldap3, and where the relay writes why it closed the connection on a bad message.
pub fn start<S>(
    directory: S,
    host: String,
) -> std::io::Result<(std::os::unix::net::UnixStream, Fault)>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    ours.set_nonblocking(true)?;
    let ours = tokio::net::UnixStream::from_std(ours)?;
    let fault: Fault = Arc::default();
    tokio::spawn(run(directory, ours, host, fault.clone()));
    Ok((theirs, fault))
}

async fn run<S>(directory: S, client: tokio::net::UnixStream, host: String, fault: Fault)
where
    S: AsyncRead + AsyncWrite + Send,
{
    let pending: Mutex<HashMap<i32, Awaiting>> = Mutex::default();
    let (mut from_dir, mut to_dir) = tokio::io::split(directory);
    let (mut from_client, mut to_client) = client.into_split();
    let up = copy(&mut from_client, &mut to_dir, |m| {
        let (id, awaiting) = frame::request(m)?;
        if let Some(a) = awaiting
            && let Ok(mut p) = pending.lock()
        {
            p.insert(id, a);
        }
        Ok(())
    });
    let down = copy(&mut from_dir, &mut to_client, |m| {
        let mut p = pending
            .lock()
            .map_err(|_| Malformed("the relay's state was poisoned".into()))?;
        let r = frame::check_response(m, &p)?;
        if r.ends {
            p.remove(&r.id);
        }
        Ok(())
    });
    let ended = tokio::select! {
        r = up => r.map_err(|e| ("request", e)),
        r = down => r.map_err(|e| ("directory", e)),
    };
    match ended {
        Ok(()) => {}
        Err(("directory", Stop::Malformed(m))) => {
            tracing::warn!(host, error = %m, "ldap: the directory sent a malformed message; connection closed");
            let _ = fault.set(format!("{host} sent a malformed LDAP message: {m}"));
        }
        Err((side, e)) => tracing::debug!(host, side, error = %e, "ldap relay ended"),
    }
    // Dropping both halves of both connections closes them; ldap3 reads the end of stream.
}

/// Copy whole messages from `from` to `to`, each one passed by `check` first. Ends at the end
/// of `from`'s stream (a message left incomplete there is dropped).
async fn copy<R, W>(
    from: &mut R,
    to: &mut W,
    mut check: impl FnMut(&[u8]) -> Result<(), Malformed>,
) -> Result<(), Stop>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let mut start = 0;
        while let Some(rest) = buf.get(start..)
            && let Some(n) = frame::message_len(rest)?
        {
            let msg = rest.get(..n).unwrap_or_default();
            check(msg)?;
            to.write_all(msg).await?;
            start += n;
        }
        buf.drain(..start);
        let n = from.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    /// One message each way through a relay: a bind request, then the directory's `answer`.
    /// What ldap3's end of the pair reads.
    async fn exchange(answer: &[u8]) -> (Vec<u8>, Option<String>) {
        let (relay_side, mut dir) = duplex(1 << 16);
        let (client, fault) = start(relay_side, "test".into()).unwrap();
        client.set_nonblocking(true).unwrap();
        let mut client = tokio::net::UnixStream::from_std(client).unwrap();
        // A simple bind of message 1 (name "", no password).
        let bind = [
            0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00,
        ];
        client.write_all(&bind).await.unwrap();
        let mut got = [0u8; 14];
        dir.read_exact(&mut got).await.unwrap();
        assert_eq!(got, bind, "requests pass unchanged");
        dir.write_all(answer).await.unwrap();
        drop(dir);
        let mut read = Vec::new();
        client.read_to_end(&mut read).await.unwrap();
        (read, fault.get().cloned())
    }

    #[tokio::test]
    async fn a_good_answer_passes_whole_and_a_bad_one_never_reaches_ldap3() {
        let ok = [
            0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
        ];
        assert_eq!(exchange(&ok).await, (ok.to_vec(), None));
        // The same answer, and behind it a bind response without its result.
        let mut bad = ok.to_vec();
        bad.extend_from_slice(&[0x30, 0x05, 0x02, 0x01, 0x01, 0x61, 0x00]);
        let (read, fault) = exchange(&bad).await;
        assert_eq!(
            read, ok,
            "the first, whole message passed; nothing of the second"
        );
        let fault = fault.unwrap_or_default();
        assert!(fault.contains("no request awaits"), "{fault}");
        let (read, fault) = exchange(&[0x30, 0x05, 0x02, 0x01, 0x01, 0x61, 0x00]).await;
        assert!(read.is_empty());
        assert!(fault.unwrap_or_default().contains("result code"));
    }
}
