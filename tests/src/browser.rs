//! A real headless Chromium for the console's tests: Debian's `chromium`
//! driven through its `chromedriver` over WebDriver (fantoccini).
//! `HOOKLINE_CHROMEDRIVER` and `HOOKLINE_CHROMIUM` name other binaries.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::{WAIT, eventually};

/// One browser session and the driver behind it (killed on drop).
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    _driver: Child,
    shots: PathBuf,
}

fn chromium() -> String {
    std::env::var("HOOKLINE_CHROMIUM").unwrap_or_else(|_| {
        [
            "/usr/bin/chromium",
            "/usr/bin/chromium-browser",
            "/usr/bin/google-chrome",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("chromium")
        .to_owned()
    })
}

impl Browser {
    /// Starts chromedriver and a headless Chromium at a laptop's size.
    /// Screenshots go to `shots`.
    pub async fn start(shots: PathBuf) -> Self {
        let driver_path = std::env::var("HOOKLINE_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned());
        let port = crate::free_port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {driver_path} (install chromium-driver: scripts/install-chromium): {e}")
            });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": chromium(),
                // Root in CI: Chromium's own sandbox needs user namespaces it may not get.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1366,900", "--force-device-scale-factor=1"],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let client = eventually("chromedriver to start a session", || {
            let capabilities = capabilities.clone();
            let url = url.clone();
            async move {
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities)
                    .connect(&url)
                    .await
                    .map_err(|e| e.to_string())
            }
        })
        .await;
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        Self {
            client,
            _driver: driver,
            shots,
        }
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The current URL's path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The text of the first element matching `css`, once there is one.
    pub async fn text(&self, css: &str) -> String {
        match self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
            Ok(element) => element.text().await.expect("text"),
            Err(e) => panic!("no `{css}` on {}: {e}", self.path_or_blank().await),
        }
    }

    async fn path_or_blank(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// Waits until the text of `css` satisfies `done` (pages that change
    /// by themselves, such as a followed log).
    pub async fn wait_for_text(&self, css: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
        eventually(what, || self.text_if(css, &done, false)).await
    }

    /// Reloads the page until the text of `css` satisfies `done` (pages
    /// that show what was true when they were rendered).
    pub async fn reload_until(&self, css: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
        eventually(what, || self.text_if(css, &done, true)).await
    }

    /// The text of `css` if it satisfies `done` (after a reload, if asked).
    async fn text_if(&self, css: &str, done: &impl Fn(&str) -> bool, reload: bool) -> Result<String, String> {
        if reload {
            self.client.refresh().await.map_err(|e| e.to_string())?;
        }
        let element = self.client.find(Locator::Css(css)).await.map_err(|e| e.to_string())?;
        let text = element.text().await.map_err(|e| e.to_string())?;
        if done(&text) {
            Ok(text)
        } else {
            Err(format!("`{css}` reads {text:?}"))
        }
    }

    /// How many elements match `css` now.
    pub async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.map_or(0, |all| all.len())
    }

    /// Types `text` into the field `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"));
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Clicks the button `css` and waits until its form's answer replaced
    /// the page (the old document is gone), so what is read next is the
    /// answer's.
    pub async fn submit(&self, css: &str) {
        let old = self.client.find(Locator::Css("html")).await.expect("a page");
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"));
        element.click().await.unwrap_or_else(|e| panic!("click `{css}`: {e}"));
        eventually(&format!("the answer to `{css}`"), || async {
            match old.tag_name().await {
                Err(_) => Ok(()), // stale: a new document is loaded
                Ok(_) => Err("still the old page".to_owned()),
            }
        })
        .await;
    }

    /// The page's HTML as the browser holds it.
    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// Writes a PNG of the page to `<shots>/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        // A page that is still laying out would be caught half drawn.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Ends the session.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
