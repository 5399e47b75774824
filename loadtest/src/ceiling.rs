//! The ceiling: a hyper server that reads each request body and answers a
//! fixed ~300-byte JSON bid response. Whatever it serves per second is the
//! most any bidder on this HTTP stack and machine could serve.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;

/// The fixed answer: the size and shape of a one-bid response.
pub const ANSWER: &str = r#"{"id":"ceiling","bidid":"c-1","cur":"USD","seatbid":[{"bid":[{"id":"c-1","impid":"1","price":1.5,"adm":"<a href=\"https://brand.example\"><img src=\"https://cdn.example/300x250.png\"></a>","nurl":"https://bidder.example/win?p=${AUCTION_PRICE}","adomain":["brand.example"],"cid":"1","crid":"1","w":300,"h":250,"mtype":1}],"seat":"seat-1"}]}"#;

/// Serves forever on `listener`.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let builder = Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        tokio::spawn(async move {
            let service = service_fn(|req: Request<Incoming>| async move {
                // Read the body as the bidder must, so both do the same I/O.
                let _ = req.into_body().collect().await;
                let mut resp = Response::new(Full::new(Bytes::from_static(ANSWER.as_bytes())));
                resp.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Ok::<_, Infallible>(resp)
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
