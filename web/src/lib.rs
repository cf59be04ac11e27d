//! The browser client of Concord, compiled into the server binary.
//!
//! Everything under `web/assets/` is embedded with `include_bytes!`: there is no build step and
//! nothing is fetched from another origin at run time. The server serves [`index_html`] for the
//! app's page paths (`/`, `/j/{token}`, `/setup/{token}`) and [`asset`] under `/assets/`.

/// One embedded file and the `Content-Type` to serve it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    pub body: &'static [u8],
    pub content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Declares the asset table: each name is both the URL path under `/assets/` and the file name
/// under `web/assets/`, so the two cannot drift apart.
macro_rules! assets {
    ($($name:literal => $content_type:expr),* $(,)?) => {
        const ASSETS: &[(&str, Asset)] = &[
            $(($name, Asset {
                body: include_bytes!(concat!("../assets/", $name)),
                content_type: $content_type,
            }),)*
        ];
    };
}

assets! {
    "app.js" => JS,
    "api.js" => JS,
    "audio-only.js" => JS,
    "chat.js" => JS,
    "attestations.js" => JS,
    "caucus.js" => JS,
    "experts.js" => JS,
    "roster.js" => JS,
    "screenshare.js" => JS,
    "record.js" => JS,
    "documents.js" => JS,
    "elder.js" => JS,
    "inapp.js" => JS,
    "console.js" => JS,
    "devicecheck.js" => JS,
    "dispute.js" => JS,
    "disputes.js" => JS,
    "dom.js" => JS,
    "format.js" => JS,
    "forms.js" => JS,
    "grid.js" => JS,
    "i18n.js" => JS,
    "join.js" => JS,
    "layers.js" => JS,
    "lobby-panel.js" => JS,
    "media.js" => JS,
    "peer.js" => JS,
    "quality.js" => JS,
    "recording.js" => JS,
    "recordings.js" => JS,
    "room.js" => JS,
    "session.js" => JS,
    "setup.js" => JS,
    "signaling.js" => JS,
    "state.js" => JS,
    "view.js" => JS,
    "style.css" => CSS,
    "favicon.svg" => SVG,
}

/// The single-page app shell served at `/`, `/j/{token}`, `/setup/{token}`.
pub fn index_html() -> Asset {
    Asset {
        body: include_bytes!("../assets/index.html"),
        content_type: HTML,
    }
}

/// A static asset under `/assets/{path}` (e.g. "app.js", "style.css"); None if unknown.
///
/// Only the exact names in the table match, so no path (`../`, `%2e`, absolute) can reach
/// any other file.
pub fn asset(path: &str) -> Option<Asset> {
    ASSETS
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, asset)| *asset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(asset: Asset) -> &'static str {
        std::str::from_utf8(asset.body).expect("assets are UTF-8 text")
    }

    /// Every `"/assets/…"` reference in a text, e.g. `href="/assets/style.css"`.
    fn asset_references(source: &str) -> Vec<&str> {
        source
            .split("\"/assets/")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').expect("reference is closed by a quote")])
            .collect()
    }

    /// Every relative module import in a script, e.g. `from './dom.js'`.
    fn module_imports(source: &str) -> Vec<&str> {
        source
            .split("from './")
            .skip(1)
            .map(|rest| &rest[..rest.find('\'').expect("import is closed by a quote")])
            .collect()
    }

    #[test]
    fn every_asset_referenced_from_index_html_exists() {
        let html = text(index_html());
        let refs = asset_references(html);
        assert!(refs.contains(&"app.js") && refs.contains(&"style.css"));
        for name in refs {
            assert!(
                asset(name).is_some(),
                "index.html references missing asset {name}"
            );
        }
    }

    #[test]
    fn every_module_import_resolves_to_an_embedded_script() {
        for (name, script) in ASSETS.iter().filter(|(n, _)| n.ends_with(".js")) {
            for import in module_imports(text(*script)) {
                assert!(
                    asset(import).is_some(),
                    "{name} imports missing module {import}"
                );
            }
        }
    }

    #[test]
    fn every_script_is_preloaded_by_index_html() {
        let refs = asset_references(text(index_html()));
        for (name, _) in ASSETS.iter().filter(|(n, _)| n.ends_with(".js")) {
            assert!(refs.contains(name), "index.html does not load {name}");
        }
    }

    #[test]
    fn every_file_in_the_assets_folder_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        for entry in std::fs::read_dir(&dir).expect("web/assets exists") {
            let name = entry.expect("readable entry").file_name();
            let name = name.to_str().expect("UTF-8 file name");
            assert!(
                name == "index.html" || asset(name).is_some(),
                "web/assets/{name} is not in the asset table"
            );
        }
    }

    #[test]
    fn content_types_follow_the_file_kind() {
        assert_eq!(index_html().content_type, "text/html; charset=utf-8");
        assert_eq!(
            asset("app.js").unwrap().content_type,
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            asset("style.css").unwrap().content_type,
            "text/css; charset=utf-8"
        );
        assert_eq!(asset("favicon.svg").unwrap().content_type, "image/svg+xml");
        for (name, a) in ASSETS {
            let ext = name.rsplit('.').next().unwrap();
            let expected = match ext {
                "js" => JS,
                "css" => CSS,
                "svg" => SVG,
                other => panic!("no content type rule for .{other}"),
            };
            assert_eq!(a.content_type, expected, "{name}");
            assert!(!a.body.is_empty(), "{name} is empty");
        }
    }

    #[test]
    fn unknown_and_traversal_paths_are_not_served() {
        for path in [
            "",
            "index.html",
            "../Cargo.toml",
            "/app.js",
            "app.js/",
            "APP.JS",
            "app.js%00",
        ] {
            assert!(asset(path).is_none(), "{path:?} must not be served");
        }
    }

    #[test]
    fn nothing_is_loaded_from_another_origin() {
        let mut files = vec![("index.html", text(index_html()))];
        files.extend(ASSETS.iter().map(|(n, a)| (*n, text(*a))));
        for (name, body) in files {
            // The SVG namespace is an identifier, not something fetched.
            let body = body.replace("http://www.w3.org/2000/svg", "");
            // A URL that starts a string or a CSS url(): the only way a page loads from elsewhere.
            for quote in ['"', '\'', '`', '('] {
                for scheme in ["http://", "https://", "//"] {
                    let needle = format!("{quote}{scheme}");
                    assert!(
                        !body.contains(&needle),
                        "{name} refers to another origin: {needle}"
                    );
                }
            }
            assert!(!body.contains("@import"), "{name} imports a stylesheet");
        }
    }
}
