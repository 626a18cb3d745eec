//! The dashboard (issue #17): the page at `/` and `/services/NAME`, and its assets under
//! `/assets/`, all embedded in the binary (nothing is fetched from another host; vigil's
//! machines often have no internet).
//!
//! The page is a view over the JSON API: it reads `/v1`, follows `/v1/events`, and POSTs
//! actions, so everything it does a script can do too. Each file is served with a strong ETag
//! (a hash of its bytes, computed at compile time) and `Cache-Control: no-cache`: a browser
//! keeps its copy and revalidates it with one conditional request, which costs a 304.

mod assets;
pub mod settings;

use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub use assets::{Asset, ASSETS};

/// The page's own policy: scripts, styles, images and connections from this origin only, no
/// framing (the buttons must not be clickjacked), no forms posting elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The dashboard's routes, to be merged into vigild's router (behind its authentication).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/services/{*name}", get(page))
        .route("/assets/{file}", get(asset))
}

/// `/` and `/services/NAME`: the same HTML; the page's script reads the path.
async fn page(headers: HeaderMap) -> Response {
    serve(assets::INDEX, &headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(a) => serve(a, &headers),
        None => (
            StatusCode::NOT_FOUND,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            "{\"error\":\"no such asset\"}",
        )
            .into_response(),
    }
}

fn serve(a: &'static Asset, headers: &HeaderMap) -> Response {
    let etag = a.etag();
    let fresh = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*");
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(CONTENT_TYPE, HeaderValue::from_static(a.mime))], a.body).into_response()
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, v);
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if a.name == assets::INDEX.name {
        h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_embedded() {
        for a in ASSETS {
            let text = std::str::from_utf8(a.body).expect("assets are text");
            for line in text.lines() {
                let Some(rest) = line.split(" from \"./").nth(1) else {
                    continue;
                };
                let file = rest.split('"').next().unwrap_or_default();
                assert!(
                    ASSETS.iter().any(|b| b.name == file),
                    "{} imports {file}, which is not embedded",
                    a.name
                );
            }
        }
    }

    #[test]
    fn etags_differ_per_file_and_are_quoted() {
        let tags: Vec<String> = ASSETS.iter().map(|a| a.etag()).collect();
        for (i, t) in tags.iter().enumerate() {
            assert!(t.starts_with('"') && t.ends_with('"'));
            assert!(!tags[..i].contains(t), "{t} twice");
        }
    }

    #[test]
    fn a_matching_if_none_match_gets_304_with_the_etag() {
        let a = &ASSETS[0];
        let mut headers = HeaderMap::new();
        headers.insert(
            IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"x\", {}", a.etag())).expect("ascii"),
        );
        let res = serve(a, &headers);
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(res.headers()[ETAG], a.etag().as_str());
        let res = serve(a, &HeaderMap::new());
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[CACHE_CONTROL], "no-cache");
    }
}
