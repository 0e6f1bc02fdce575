//! A small driver of Debian's headless Chromium over the DevTools protocol
//! (a websocket of JSON commands), for tests that use the console as a
//! person does: pages are loaded, links and buttons are clicked with the
//! mouse at their place on the screen, fields are typed into and the Tab
//! key moves the focus. Only what the console's tests need is here; it
//! leaves out everything else of the protocol.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long one protocol command, or one wait, may take.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct Browser {
    child: Child,
    profile: PathBuf,
    ws: Ws,
    next_id: u64,
    /// The page's session (flat sessions of `Target.attachToTarget`).
    session: String,
}

impl Browser {
    /// Starts headless Chromium with a fresh profile and one blank page
    /// 1280 pixels wide.
    pub async fn launch() -> Browser {
        let profile = super::console::tempdir("cdp-profile");
        let mut child = Command::new(super::console::chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
                &format!("--user-data-dir={}", profile.display()),
                "about:blank",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        // Chromium says where its DevTools endpoint listens on stderr; the
        // rest of stderr is drained so that it never blocks on a full pipe.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = match rx.recv_timeout(PATIENCE) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("chromium did not open its DevTools endpoint within {PATIENCE:?}");
            }
        };
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("connect to chromium's DevTools endpoint");
        let mut b = Browser {
            child,
            profile,
            ws,
            next_id: 0,
            session: String::new(),
        };
        let target = b
            .command(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = b
            .command(
                None,
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .await;
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        b.call("Page.enable", json!({})).await;
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        b
    }

    /// One protocol command; its result, or a panic naming its error.
    async fn command(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        match self.try_command(session, method, params).await {
            Ok(v) => v,
            Err(e) => panic!("chromium: {method} failed: {e}"),
        }
    }

    async fn try_command(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .await
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = tokio::time::timeout(left, self.ws.next())
                .await
                .map_err(|_| format!("no answer within {PATIENCE:?}"))?
                .ok_or("the DevTools connection closed")?
                .map_err(|e| e.to_string())?;
            let Message::Text(text) = frame else {
                continue;
            };
            let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            // Events (no id) are not used: the tests poll the page instead.
            if v["id"].as_u64() != Some(id) {
                continue;
            }
            if !v["error"].is_null() {
                return Err(v["error"].to_string());
            }
            return Ok(v["result"].clone());
        }
    }

    /// A command on the page.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.command(Some(&session), method, params).await
    }

    /// Evaluates `expr` in the page; its value, or the error (a page being
    /// replaced by another has no context to evaluate in for a moment).
    pub async fn try_eval(&mut self, expr: &str) -> Result<Value, String> {
        let session = self.session.clone();
        let r = self
            .try_command(
                Some(&session),
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if !r["exceptionDetails"].is_null() {
            return Err(r["exceptionDetails"].to_string());
        }
        Ok(r["result"]["value"].clone())
    }

    pub async fn eval(&mut self, expr: &str) -> Value {
        match self.try_eval(expr).await {
            Ok(v) => v,
            Err(e) => panic!("evaluating {expr}: {e}"),
        }
    }

    /// Waits until `expr` is true in the page, or fails with `what` and the
    /// page's text.
    pub async fn wait_for(&mut self, expr: &str, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.try_eval(expr).await == Ok(Value::Bool(true)) {
                return;
            }
            if Instant::now() > deadline {
                let text = self.text().await;
                let state = self.try_eval(expr).await;
                panic!(
                    "{what}: not within {timeout:?} (at {}, {state:?}):\n{text}",
                    self.url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Loads `url` and waits for it.
    pub async fn goto(&mut self, url: &str) {
        self.mark().await;
        self.call("Page.navigate", json!({"url": url})).await;
        self.wait_new_page(url).await;
    }

    /// Marks the page now shown: a page loaded later has no mark.
    pub async fn mark(&mut self) {
        self.eval("window.__console_test_mark = true").await;
    }

    /// Whether the page shown is the one marked (not reloaded since).
    pub async fn still_marked(&mut self) -> bool {
        self.eval("window.__console_test_mark === true").await == Value::Bool(true)
    }

    /// Waits for the page a navigation opens. Chromium abandons a
    /// navigation when the host's network changes (ERR_NETWORK_CHANGED: the
    /// Docker engine adds and removes networks for other tests); the page
    /// is then loaded again, as a person would press Reload.
    async fn wait_new_page(&mut self, what: &str) {
        for attempt in 0..3 {
            self.wait_for(
                "location.href.startsWith('chrome-error:') || \
                 (window.__console_test_mark !== true && document.readyState === 'complete')",
                PATIENCE,
                &format!("a new page after {what}"),
            )
            .await;
            let failed = self
                .try_eval("location.href.startsWith('chrome-error:') || document.body.innerText.includes('ERR_NETWORK_CHANGED')")
                .await;
            if failed != Ok(Value::Bool(true)) {
                return;
            }
            eprintln!("chromium: {what}: the network changed (attempt {attempt}); reloading");
            self.mark().await;
            self.call("Page.reload", json!({})).await;
        }
        panic!("{what}: the page failed to load three times");
    }

    pub async fn url(&mut self) -> String {
        self.try_eval("location.href")
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// The text of the page as shown.
    pub async fn text(&mut self) -> String {
        self.try_eval("document.body ? document.body.innerText : ''")
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Clicks, with the mouse, the element `find` (a JavaScript expression
    /// giving an element) after scrolling it into view: the centre of its
    /// first box (a link wrapped over two lines has two, and the centre of
    /// both together may fall between them).
    async fn click_element(&mut self, find: &str, what: &str) {
        let at = self
            .eval(&format!(
                "(() => {{ const e = {find}; if (!e) return null; e.scrollIntoView({{block: 'center'}}); \
                 const r = e.getClientRects()[0]; return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
            ))
            .await;
        let Some([x, y]) = at.as_array().map(|a| [a[0].as_f64(), a[1].as_f64()]) else {
            let text = self.text().await;
            panic!("nothing to click: {what} is not on the page:\n{text}");
        };
        let (x, y) = (x.unwrap(), y.unwrap());
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await;
        }
    }

    /// Clicks the link whose text is `text` (the first one in the page's
    /// main content, else anywhere) and waits for the page it opens.
    pub async fn click_link(&mut self, text: &str) {
        self.mark().await;
        let find = format!(
            "(() => {{ const all = [...document.querySelectorAll('main a'), ...document.querySelectorAll('a')]; \
             return all.find(a => a.textContent.trim() === {}); }})()",
            json!(text)
        );
        let what = format!("the link {text:?}");
        // A live page may swap its content between the scroll and the
        // click, moving the link: the click then lands beside it and
        // nothing opens. A person clicks again; so does this, at most
        // three times, each after the page stayed put for 3 s.
        for _ in 0..3 {
            self.click_element(&find, &what).await;
            if self.left_within(Duration::from_secs(3)).await {
                break;
            }
        }
        self.wait_new_page(&format!("clicking the link {text:?}"))
            .await;
    }

    /// Whether the marked page is left (or a navigation failed) within
    /// `wait`.
    async fn left_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            match self.try_eval("window.__console_test_mark === true").await {
                Ok(Value::Bool(true)) => {}
                // Unmarked, or no page to ask (it is being replaced).
                _ => return true,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Clicks the first element matching the CSS `selector`; `navigates`:
    /// whether to wait for the page it opens.
    pub async fn click(&mut self, selector: &str, navigates: bool) {
        self.mark().await;
        let find = format!("document.querySelector({})", json!(selector));
        self.click_element(&find, selector).await;
        if navigates {
            self.wait_new_page(&format!("clicking {selector}")).await;
        }
    }

    /// Types `text` into the field `selector`, replacing what it held.
    pub async fn type_into(&mut self, selector: &str, text: &str) {
        self.click(selector, false).await;
        self.eval(&format!(
            "document.querySelector({}).select()",
            json!(selector)
        ))
        .await;
        self.call("Input.insertText", json!({"text": text})).await;
    }

    /// Presses and releases a key (`Tab`, `Enter`).
    pub async fn press(&mut self, key: &str) {
        let (code, text) = match key {
            "Tab" => (9, ""),
            "Enter" => (13, "\r"),
            other => panic!("no key code for {other}"),
        };
        let down = if text.is_empty() {
            "rawKeyDown"
        } else {
            "keyDown"
        };
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": down, "key": key, "code": key, "windowsVirtualKeyCode": code, "text": text}),
        )
        .await;
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key, "code": key, "windowsVirtualKeyCode": code}),
        )
        .await;
    }

    /// Which colour scheme the page is told the person prefers.
    pub async fn prefer_color_scheme(&mut self, scheme: &str) {
        self.call(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
    }

    /// A screenshot of the whole page into `dir/<name>.png`.
    pub async fn screenshot(&mut self, dir: &Path, name: &str) -> PathBuf {
        use base64::Engine;
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("screenshot base64");
        std::fs::create_dir_all(dir).unwrap();
        let file = dir.join(format!("{name}.png"));
        std::fs::write(&file, png).unwrap();
        eprintln!("console screenshot: {}", file.display());
        file
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
