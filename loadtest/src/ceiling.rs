//! The ceiling: a hyper server that reads each request body and answers a
//! fixed ~300-byte JSON bid response. Whatever it serves per second is the
//! most any bidder on this HTTP stack and machine could serve.
//!
//! [`answer_of_size`] pads that answer's markup to a given size, so that
//! the ceiling can also answer as many bytes as the bidder does: the
//! difference between the two ceilings is what the bytes cost, apart from
//! anything the bidder computes. With [`Work::Parse`] it also parses each
//! request with the bidder's own OpenRTB parser: the most a bidder on this
//! stack and parser could serve if deciding and writing its answer cost
//! nothing.

use std::cell::RefCell;
use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use openrtb::Parser;
use openrtb::body::Gunzipper;
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

/// What the ceiling does with a request's body before it answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Work {
    /// Reads it, as any server must.
    #[default]
    Read,
    /// Reads it, inflates it when gzipped, and parses it into the bidder's
    /// checked `BidRequest`, as any bidder on this parser must. A body that
    /// does not parse is answered `400`, so that a load test counts it.
    Parse,
}

/// The most a gzipped body may inflate to, as in the bidder's default
/// configuration.
const MAX_INFLATED_BYTES: usize = 1 << 20;

thread_local! {
    /// Per worker thread, as in the bidder: the parser keeps its buffers
    /// between requests.
    static PARSE: RefCell<(Parser, Gunzipper, Vec<u8>)> = RefCell::default();
}

/// Whether `body` is a valid bid request to the bidder's parser.
fn parses(body: &[u8], gzipped: bool) -> bool {
    PARSE.with_borrow_mut(|(parser, gunzipper, inflated)| {
        let input = if gzipped {
            if gunzipper
                .gunzip(body, MAX_INFLATED_BYTES, inflated)
                .is_err()
            {
                return false;
            }
            &inflated[..]
        } else {
            body
        };
        parser.parse(input).is_ok()
    })
}

/// Serves [`ANSWER`] forever on `listener`.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    serve_answer(listener, Bytes::from_static(ANSWER.as_bytes()), Work::Read).await
}

/// Serves `answer` to every request, after doing `work` with its body,
/// forever, on `listener`.
pub async fn serve_answer(listener: TcpListener, answer: Bytes, work: Work) -> std::io::Result<()> {
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
                    let gzipped = req
                        .headers()
                        .get(CONTENT_ENCODING)
                        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
                    // Read the body as the bidder must, so both do the same I/O.
                    let body = req.into_body().collect().await.map(|b| b.to_bytes());
                    let mut resp = match (work, body) {
                        (Work::Parse, Ok(body)) if !parses(&body, gzipped) => {
                            let mut resp = Response::new(Full::new(Bytes::new()));
                            *resp.status_mut() = StatusCode::BAD_REQUEST;
                            return Ok::<_, Infallible>(resp);
                        }
                        _ => Response::new(Full::new(answer)),
                    };
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
