//! Dex's `frontend` settings: the name pages show (`issuer`), a logo (`logoURL`), a theme
//! (`theme`: Gantry has `light` and `dark`; unset, the browser's own choice), and a web directory
//! (`dir`) whose `static/` files and `themes/<theme>/` assets are served, at `/static/` and
//! `/theme/`, instead of the compiled-in ones, which remain the fallback.
//!
//! The directory is read once, at start, into memory: a request never touches the file system,
//! so no path a browser sends can reach a file outside it. Its `templates/` are Dex's Go
//! templates, which cannot run here (Gantry's pages are compiled in): they are named in a
//! warning, never silently ignored. Hidden files are not served.
//!
//! Every page shows these settings, error pages too, which are built without the app's state:
//! the settings in force are set for the request being handled (as its id is, in
//! `request_scope`) and read by `templates/base.html`.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;

use crate::config::{FrontendConfig, Problem};
use crate::http::AppState;
use crate::http::error::PageError;

/// The compiled-in assets: Gantry's own style sheet, and its two themes.
const BUILT_IN: &[(&str, &str)] = &[
    ("static/style.css", include_str!("../../static/style.css")),
    (
        "themes/light/styles.css",
        include_str!("../../static/themes/light/styles.css"),
    ),
    (
        "themes/dark/styles.css",
        include_str!("../../static/themes/dark/styles.css"),
    ),
];

/// Bounds of what a web directory may hold: it is kept in memory.
const MAX_FILES: usize = 2000;
const MAX_BYTES: u64 = 64 * 1024 * 1024;
const MAX_DEPTH: usize = 16;

/// One file served at `/static/` or `/theme/`.
#[derive(Clone)]
struct Asset {
    bytes: Bytes,
    content_type: &'static str,
    built_in: bool,
}

/// Sizes, not contents: a directory may hold megabytes.
impl std::fmt::Debug for Asset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} bytes)", self.content_type, self.bytes.len())
    }
}

/// The frontend settings in force: what pages show around their content, and the assets
/// served.
#[derive(Debug, Default)]
pub struct Frontend {
    /// The name pages show: `frontend.issuer`, Gantry when unset.
    pub title: String,
    /// The issuer's path, which asset URLs start with.
    base_path: String,
    /// The theme in force; `None` follows the browser's light or dark preference.
    theme: Option<String>,
    logo: Option<String>,
    /// By URL path under the issuer: `static/...`, `theme/...`.
    assets: HashMap<String, Asset>,
}

impl Frontend {
    /// The settings of `cfg` for an issuer served at `base_path`, the web directory read; every
    /// problem with them, phrased for the operator.
    pub fn load(cfg: &FrontendConfig, base_path: &str) -> Result<Frontend, Vec<Problem>> {
        let mut problems = Vec::new();
        let at = |key: &str, m: String| Problem::new(format!("frontend.{key}"), m);
        let dir = cfg.dir.as_deref().filter(|d| !d.is_empty()).map(Path::new);
        if let Some(d) = dir {
            match std::fs::metadata(d) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => problems.push(at("dir", format!("`{}` is not a directory", d.display()))),
                Err(e) => problems.push(at("dir", format!("`{}`: {e}", d.display()))),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let own_theme_dir = |t: &str| dir.is_some_and(|d| d.join("themes").join(t).is_dir());
        let theme = match cfg.theme.as_deref().map(str::trim).unwrap_or_default() {
            // Dex's default, and its legacy names for it.
            "" if own_theme_dir("light") => Some("light".to_string()),
            "" => None,
            "coreos" | "tectonic" => Some("light".to_string()),
            // A theme is a directory's name, never a path: `../../secrets` would serve files
            // from outside `dir`.
            t if !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')) =>
            {
                problems.push(at(
                    "theme",
                    format!("`{t}`: a theme is a name (letters, digits, - and _), not a path"),
                ));
                None
            }
            t => {
                if !matches!(t, "light" | "dark") && !own_theme_dir(t) {
                    problems.push(at(
                        "theme",
                        format!(
                            "`{t}`: Gantry's themes are light and dark; another theme needs \
                             frontend.dir with a themes/{t}/ directory"
                        ),
                    ));
                }
                Some(t.to_string())
            }
        };
        let mut assets: HashMap<String, Asset> = HashMap::new();
        for (path, text) in BUILT_IN {
            let served = match path.strip_prefix("themes/") {
                Some(rest) => match rest.split_once('/') {
                    Some((t, file)) if Some(t) == theme.as_deref() => format!("theme/{file}"),
                    _ => continue,
                },
                None => path.to_string(),
            };
            let mut a = asset(path, Bytes::from_static(text.as_bytes()));
            a.built_in = true;
            assets.insert(served, a);
        }
        if let Some(d) = dir {
            let mut budget = Budget::default();
            let root = std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf());
            let mut read = |from: &Path, prefix: &str| {
                if from.is_dir()
                    && let Err(e) = read_tree(&root, from, prefix, 0, &mut budget, &mut assets)
                {
                    problems.push(at("dir", format!("`{}`: {e}", d.display())));
                }
            };
            read(&d.join("static"), "static");
            if let Some(t) = &theme {
                read(&d.join("themes").join(t), "theme");
            }
        }
        let logo = match cfg.logo_url.as_deref().map(str::trim).unwrap_or_default() {
            "" => assets
                .contains_key("theme/logo.png")
                .then(|| format!("{base_path}/theme/logo.png")),
            u if u.starts_with("https://") || u.starts_with("http://") => Some(u.to_string()),
            u if u.contains(':') || u.starts_with("//") => {
                problems.push(at(
                    "logoURL",
                    format!(
                        "`{u}`: an http(s) URL, or a path under the issuer such as \
                         theme/logo.png"
                    ),
                ));
                None
            }
            // A path is the issuer's, as Dex resolves it.
            u => Some(format!("{base_path}/{}", u.trim_start_matches('/'))),
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Frontend {
            title: cfg
                .issuer
                .clone()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "Gantry".into()),
            base_path: base_path.to_string(),
            theme,
            logo,
            assets,
        })
    }

    /// The theme in force, for the page's `data-theme`; empty for the browser's choice.
    pub fn theme(&self) -> &str {
        self.theme.as_deref().unwrap_or_default()
    }

    /// The logo's address, when there is one to show.
    pub fn logo(&self) -> Option<&str> {
        self.logo.as_deref()
    }

    /// The web directory's own `static/style.css`, which pages then load instead of Gantry's.
    pub fn own_style(&self) -> Option<String> {
        self.assets
            .get("static/style.css")
            .filter(|a| !a.built_in)
            .map(|_| format!("{}/static/style.css", self.base_path))
    }

    /// The theme's style sheet, loaded after the page's own.
    pub fn theme_styles(&self) -> Option<String> {
        self.url_of("theme/styles.css")
    }

    /// The theme's `favicon.png`, when it has one.
    pub fn favicon(&self) -> Option<String> {
        self.url_of("theme/favicon.png")
    }

    fn url_of(&self, path: &str) -> Option<String> {
        self.assets
            .contains_key(path)
            .then(|| format!("{}/{path}", self.base_path))
    }
}

/// What the files read so far have used of the bounds.
#[derive(Default)]
struct Budget {
    files: usize,
    bytes: u64,
}

/// Read every file under `dir` into `assets`, keyed `prefix/relative/path`.
/// Every file must lie under `root` (the canonical `frontend.dir`) once its links are
/// followed: a link out of the directory would serve what the operator never put there.
fn read_tree(
    root: &Path,
    dir: &Path,
    prefix: &str,
    depth: usize,
    budget: &mut Budget,
    assets: &mut HashMap<String, Asset>,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{} is nested too deep", dir.display()));
    }
    let real = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !real.starts_with(root) {
        return Err(format!(
            "{} leads outside frontend.dir (a link?)",
            dir.display()
        ));
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .and_then(|r| r.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Some(name) = e.file_name().to_str().map(String::from) else {
            return Err(format!("{}: a file name that is not UTF-8", dir.display()));
        };
        if name.starts_with('.') {
            continue;
        }
        let path = e.path();
        let key = format!("{prefix}/{name}");
        if path.is_dir() {
            read_tree(root, &path, &key, depth + 1, budget, assets)?;
            continue;
        }
        let real = std::fs::canonicalize(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !real.starts_with(root) {
            return Err(format!(
                "{} leads outside frontend.dir (a link?)",
                path.display()
            ));
        }
        let bytes =
            crate::files::read_limited(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        budget.files += 1;
        budget.bytes += bytes.len() as u64;
        if budget.files > MAX_FILES || budget.bytes > MAX_BYTES {
            return Err(format!(
                "holds more than {MAX_FILES} files or {} MiB under static/ and the theme",
                MAX_BYTES >> 20
            ));
        }
        assets.insert(key.clone(), asset(&key, Bytes::from(bytes)));
    }
    Ok(())
}

fn asset(path: &str, bytes: Bytes) -> Asset {
    Asset {
        bytes,
        content_type: content_type(path),
        built_in: false,
    }
}

/// The type a browser needs to use a file, from its extension; anything else is served as
/// bytes to download, never sniffed.
fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("css") => "text/css; charset=utf-8",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("ttf") => "font/ttf",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// What a file in the web directory's `templates/` is, to Gantry.
pub fn warnings(cfg: &FrontendConfig) -> Vec<Problem> {
    let mut w = Vec::new();
    if let Some(dir) = cfg.dir.as_deref().filter(|d| !d.is_empty()) {
        let mut names: Vec<String> = std::fs::read_dir(Path::new(dir).join("templates"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_file())
            .filter_map(|e| e.file_name().to_str().map(String::from))
            .filter(|n| n.ends_with(".html"))
            .collect();
        names.sort();
        if !names.is_empty() {
            w.push(Problem::new(
                "frontend.dir",
                format!(
                    "templates/ holds Dex's Go templates ({}), which Gantry does not run (its \
                     pages are compiled in): they are ignored. Restyle the pages with \
                     themes/<theme>/styles.css, static/style.css, frontend.issuer and \
                     frontend.logoURL",
                    names.join(", ")
                ),
            ));
        }
    }
    if !cfg.extra.is_empty() {
        let keys: Vec<&str> = cfg.extra.keys().map(String::as_str).collect();
        w.push(Problem::new(
            "frontend.extra",
            format!(
                "read only by Dex's Go templates, which Gantry does not run: {} shown on no page",
                keys.iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
                    + if keys.len() == 1 { " is" } else { " are" }
            ),
        ));
    }
    w
}

tokio::task_local! {
    static IN_FORCE: Arc<Frontend>;
}

/// Run `f` (a request) with `frontend` as what its pages show.
pub async fn scope<F: Future>(frontend: Arc<Frontend>, f: F) -> F::Output {
    IN_FORCE.scope(frontend, f).await
}

/// The settings the current request's pages show; Gantry's defaults outside a request.
pub fn current() -> Arc<Frontend> {
    IN_FORCE.try_with(Arc::clone).unwrap_or_else(|_| {
        Arc::new(Frontend {
            title: "Gantry".into(),
            ..Frontend::default()
        })
    })
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/{*path}", get(static_file))
        .route("/theme/{*path}", get(theme_file))
}

async fn static_file(State(s): State<AppState>, UrlPath(path): UrlPath<String>) -> Response {
    serve(&s, &format!("static/{path}"))
}

async fn theme_file(State(s): State<AppState>, UrlPath(path): UrlPath<String>) -> Response {
    serve(&s, &format!("theme/{path}"))
}

fn serve(s: &AppState, key: &str) -> Response {
    let Some(a) = s.web.frontend.assets.get(key) else {
        return PageError::new(StatusCode::NOT_FOUND, "There is nothing here.").into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            ),
            // Read at start: a new file needs a restart anyway.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        a.bytes.clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path) -> FrontendConfig {
        FrontendConfig {
            dir: Some(dir.display().to_string()),
            ..FrontendConfig::default()
        }
    }

    #[test]
    fn a_directory_past_its_bounds_is_a_problem_not_a_memory_hog() {
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("static");
        std::fs::create_dir(&s).unwrap();
        for i in 0..=MAX_FILES {
            std::fs::write(s.join(format!("f{i}.txt")), "x").unwrap();
        }
        let e = Frontend::load(&cfg(d.path()), "/dex").unwrap_err();
        assert_eq!(e[0].path, "frontend.dir");
        assert!(e[0].message.contains("holds more than 2000 files"), "{e:?}");
    }

    #[test]
    fn a_theme_is_a_name_and_links_out_of_the_dir_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let web = d.path().join("web");
        let outside = d.path().join("outside");
        std::fs::create_dir_all(web.join("static")).unwrap();
        std::fs::create_dir_all(web.join("themes/light")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("key.pem"), "secret").unwrap();
        for theme in ["../../outside", "/etc", "..", "a/b", "a\\b"] {
            let c = FrontendConfig {
                theme: Some(theme.into()),
                ..cfg(&web)
            };
            let e = Frontend::load(&c, "/dex").unwrap_err();
            assert!(
                e.iter().any(|p| p.path == "frontend.theme"),
                "{theme}: {e:?}"
            );
        }
        std::os::unix::fs::symlink(outside.join("key.pem"), web.join("themes/light/logo.png"))
            .unwrap();
        let e = Frontend::load(&cfg(&web), "/dex").unwrap_err();
        assert!(e[0].message.contains("leads outside frontend.dir"), "{e:?}");
        std::fs::remove_file(web.join("themes/light/logo.png")).unwrap();
        std::os::unix::fs::symlink(&outside, web.join("static/od")).unwrap();
        let e = Frontend::load(&cfg(&web), "/dex").unwrap_err();
        assert!(e[0].message.contains("leads outside frontend.dir"), "{e:?}");
        // A link that stays inside is followed.
        std::fs::remove_file(web.join("static/od")).unwrap();
        std::fs::write(web.join("static/a.css"), "x").unwrap();
        std::os::unix::fs::symlink(web.join("static/a.css"), web.join("static/b.css")).unwrap();
        assert!(Frontend::load(&cfg(&web), "/dex").is_ok());
    }

    #[test]
    fn paths_map_to_served_names_and_types() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("static/img")).unwrap();
        std::fs::write(d.path().join("static/img/a.SVG"), "<svg/>").unwrap();
        std::fs::write(d.path().join("static/.env"), "SECRET=1").unwrap();
        std::fs::write(d.path().join("static/page.html"), "<script>").unwrap();
        let f = Frontend::load(&cfg(d.path()), "/dex").unwrap();
        assert_eq!(f.assets["static/img/a.SVG"].content_type, "image/svg+xml");
        assert!(!f.assets.contains_key("static/.env"), "hidden files stay");
        // Not a type a browser would run as a page of this origin.
        assert_eq!(
            f.assets["static/page.html"].content_type,
            "application/octet-stream"
        );
        // Gantry's sheet stays the fallback, and the pages keep it inline.
        assert!(f.assets.contains_key("static/style.css"));
        assert_eq!(f.own_style(), None);
        assert_eq!(f.theme_styles(), None, "no theme: the browser's choice");
    }
}
