//! A keep-alive HTTP/1.1 client for the bidder's admin API, shared by the
//! seeder and the write load: bearer token, JSON bodies, reconnection when
//! the server closed an idle connection.
//!
//! Loopback measuring only: no TLS, no redirects, no retries of a request
//! that reached the server (a write is never sent twice).

use anyhow::Context;
use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// One connection to the admin API of a bidder.
pub(crate) struct Api {
    host: String,
    token: String,
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Api {
    /// Connects to `base` (e.g. `http://127.0.0.1:8080`) with an admin token.
    pub(crate) async fn connect(base: &str, token: &str) -> anyhow::Result<Api> {
        let uri: Uri = base.parse().context("--url")?;
        let host = format!(
            "{}:{}",
            uri.host().unwrap_or("127.0.0.1"),
            uri.port_u16().unwrap_or(80)
        );
        let sender = Api::open(&host).await?;
        Ok(Api {
            host,
            token: token.to_string(),
            sender,
        })
    }

    async fn open(
        host: &str,
    ) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(host)
            .await
            .with_context(|| format!("connecting to {host}"))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(sender)
    }

    /// A JSON call that must succeed (2xx); its answer, `null` when empty.
    pub(crate) async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let bytes = Bytes::from(serde_json::to_vec(&body)?);
        self.send(method, path, "application/json", bytes).await
    }

    /// Like [`Api::call`] for a body of another content type.
    pub(crate) async fn send(
        &mut self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> anyhow::Result<Value> {
        let headers = [("content-type", content_type)];
        let (status, bytes) = self.exchange(method.clone(), path, &headers, body).await?;
        anyhow::ensure!(
            status.is_success(),
            "{method} {path}: {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// One request with extra `headers`; the status and body as they came,
    /// whatever the status.
    pub(crate) async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("authorization", format!("Bearer {}", self.token));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Full::new(body))?;
        // The server may close a keep-alive connection between calls.
        if self.sender.ready().await.is_err() {
            self.sender = Api::open(&self.host).await?;
            self.sender.ready().await?;
        }
        let resp = self.sender.send_request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }
}
