//! How far a connection to an identity source got, in the few words the admin's Test may use
//! ([`Reach`]), without the remote host's own words.

use std::error::Error as StdError;

/// How far a failed attempt to reach a host got, as the admin's Test may say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// A TLS server answered and the handshake failed on its certificate or its terms.
    Tls,
    /// Nothing usable answered: refused, timed out, an unknown name, another protocol. One
    /// word for all of these, so that Test cannot tell a closed port from an open one.
    NoAnswer,
}

/// How far the attempt that failed with `e` got, from the causes in its chain.
pub fn reach_of(e: &(dyn StdError + 'static)) -> Reach {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(t) = e.downcast_ref::<rustls::Error>() {
            return tls_reach(t);
        }
        // An io::Error's `source()` skips the error it wraps (often another io::Error around
        // the TLS error): step into it instead.
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    Reach::NoAnswer
}

/// A TLS error is the server's certificate or terms only when a TLS server really answered;
/// a plain-text service on the port fails the handshake as "no answer", like a closed one.
pub fn tls_reach(e: &rustls::Error) -> Reach {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(_)
        | E::NoCertificatesPresented
        | E::UnsupportedNameType
        | E::AlertReceived(_)
        | E::PeerIncompatible(_) => Reach::Tls,
        _ => Reach::NoAnswer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_tls_server_that_answered_reads_as_a_tls_failure() {
        use rustls::{CertificateError, Error as E};
        let wrap = |e: E| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let cert = wrap(E::InvalidCertificate(CertificateError::UnknownIssuer));
        assert_eq!(reach_of(&cert), Reach::Tls);
        // As the HTTP client reports it: an io::Error around the io::Error around it.
        let twice = std::io::Error::other(wrap(E::InvalidCertificate(CertificateError::Expired)));
        assert_eq!(reach_of(&twice), Reach::Tls);
        let garbage = wrap(E::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        ));
        assert_eq!(reach_of(&garbage), Reach::NoAnswer);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(reach_of(&refused), Reach::NoAnswer);
    }
}
