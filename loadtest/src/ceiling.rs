//! The ceiling: a hyper server that reads each request body and answers a
//! fixed ~300-byte JSON bid response. Whatever it serves per second is the
//! most any bidder on this HTTP stack and machine could serve.
//!
//! [`answer_of_size`] pads that answer's markup to a given size, so that
//! the ceiling can also answer as many bytes as the bidder does: the
//! difference between the two ceilings is what the bytes cost, apart from
//! anything the bidder computes.

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

/// [`ANSWER`] with its `adm` padded (an HTML comment) to make the whole
/// answer `bytes` long, or [`ANSWER`] itself when that is too short to pad.
pub fn answer_of_size(bytes: usize) -> String {
    let Some(pad) = bytes.checked_sub(ANSWER.len() + "<!---->".len()) else {
        return ANSWER.to_string();
    };
    ANSWER.replacen("</a>\"", &format!("</a><!--{}-->\"", "x".repeat(pad)), 1)
}

/// Serves [`ANSWER`] forever on `listener`.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    serve_answer(listener, Bytes::from_static(ANSWER.as_bytes())).await
}

/// Serves `answer` to every request, forever, on `listener`.
pub async fn serve_answer(listener: TcpListener, answer: Bytes) -> std::io::Result<()> {
    let builder = Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        let answer = answer.clone();
        tokio::spawn(async move {
            let service = service_fn(|req: Request<Incoming>| {
                let answer = answer.clone();
                async move {
                    // Read the body as the bidder must, so both do the same I/O.
                    let _ = req.into_body().collect().await;
                    let mut resp = Response::new(Full::new(answer));
                    resp.headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    Ok::<_, Infallible>(resp)
                }
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_answers_have_the_size_asked_and_stay_json() {
        for bytes in [ANSWER.len() + 9, 2_330, 5_000] {
            let a = answer_of_size(bytes);
            assert_eq!(a.len(), bytes);
            let v: serde_json::Value = serde_json::from_str(&a).unwrap();
            assert!(
                v["seatbid"][0]["bid"][0]["adm"]
                    .as_str()
                    .unwrap()
                    .contains("<!--xx")
            );
        }
        assert_eq!(answer_of_size(10), ANSWER);
    }
}
