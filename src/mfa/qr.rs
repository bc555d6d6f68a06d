//! The QR code of an enrolment URI, as SVG: an image the page embeds as a `data:` URI, which
//! the pages' CSP (`img-src ... data:`) allows, with no script and no request of its own.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// The SVG QR code of `text`; empty when it does not fit in a QR code (the page then shows
/// the secret as text alone).
pub fn svg(text: &str) -> String {
    match QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M) {
        Ok(code) => code
            .render::<svg::Color<'_>>()
            .min_dimensions(220, 220)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_otpauth_uri_becomes_an_svg_and_an_oversized_text_nothing() {
        let s = super::svg("otpauth://totp/Gantry:jane?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert!(
            s.starts_with("<?xml") && s.contains("<svg") && s.contains("</svg>"),
            "{s}"
        );
        assert!(!s.contains("<script"));
        assert_eq!(super::svg(&"x".repeat(8000)), "");
    }
}
