//! Reading a request body with a cap: Content-Length is checked first, then the stream is
//! counted, so an oversized body is refused without being buffered; and with a deadline,
//! so a client trickling its body cannot hold a request open.

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use warp::http::StatusCode;
use warp::Filter;

use super::error::ApiError;

/// What the connection under a request is told of its body: that it is being read, and
/// that it is all in (`server` cuts a body that stalls while the connections are all taken,
/// and leaves a request that waits on anything else alone).
pub trait BodyProgress: Send + Sync {
    fn reading(&self);
    fn arrived(&self);
}

tokio::task_local! {
    /// The connection of the request being answered, set by `server` around each request.
    pub static PROGRESS: std::sync::Arc<dyn BodyProgress>;
}

/// How much a body may hold and how long it may take to arrive.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub bytes: usize,
    pub within: std::time::Duration,
}

pub fn capped(limit: Limit) -> impl Filter<Extract = (Result<Bytes, ApiError>,), Error = warp::Rejection> + Clone {
    let encoding = warp::header::headers_cloned().map(|headers: warp::http::HeaderMap| {
        headers.get("content-encoding").and_then(|v| v.to_str().ok()).and_then(encoding_refused)
    });
    warp::header::optional::<u64>("content-length").and(encoding).and(warp::body::stream()).then(
        move |length: Option<u64>, refused: Option<ApiError>, stream| async move {
            if let Some(refused) = refused {
                return Err(refused);
            }
            match tokio::time::timeout(limit.within, read(length, stream, limit.bytes)).await {
                Ok(body) => body,
                Err(_) => Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!("the request body did not arrive within {}", crate::duration::format(limit.within)),
                )),
            }
        },
    )
}

/// The compressions HTTP names (RFC 9110's registry, and what clients send).
const COMPRESSIONS: [&str; 7] = ["gzip", "x-gzip", "deflate", "br", "zstd", "compress", "x-compress"];

/// A body is read as it was sent: one declared compressed (`Content-Encoding: gzip`) would
/// be parsed as the compressed bytes, or, when a client labels plain text so, stored as if
/// it had been compressed. Refused by name instead. Anything else in the header
/// (`identity`, a client's `utf-8`) is no compression and is let through, as it always was.
fn encoding_refused(encoding: &str) -> Option<ApiError> {
    let compressed = encoding.split(',').any(|c| COMPRESSIONS.iter().any(|k| c.trim().eq_ignore_ascii_case(k)));
    let encoding = encoding.trim();
    compressed.then(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding {encoding:?}: request bodies are read as sent; send this one uncompressed"),
        )
    })
}

/// The most a body's buffer takes before its bytes arrive (what events usually weigh).
const UPFRONT: u64 = 64 * 1024;

fn too_large(limit: usize) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body is over the limit of {limit} bytes"))
}

/// A body that stopped arriving: how much came of what was announced, which says more
/// than hyper's "error reading a body from connection" (a client that closed early).
fn cut_short(e: &warp::Error, arrived: usize, length: Option<u64>) -> ApiError {
    match length {
        Some(announced) => ApiError::bad_request(format!(
            "the request body ended after {arrived} of the {announced} bytes its Content-Length announced \
             (the connection closed early: {e})"
        )),
        None => ApiError::bad_request(format!("the request body ended after {arrived} bytes, unfinished: {e}")),
    }
}

async fn read<S, B>(length: Option<u64>, stream: S, limit: usize) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    if length.is_some_and(|l| l > limit as u64) {
        return Err(too_large(limit));
    }
    // Room for what Content-Length announces, up to `UPFRONT`: past it the buffer grows with
    // what arrives, so a client announcing a large body and trickling it holds no more
    // memory than it sent (twice, at worst).
    let _ = PROGRESS.try_with(|p| p.reading());
    let mut body = BytesMut::with_capacity(length.unwrap_or(0).min(limit as u64).min(UPFRONT) as usize);
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|e| cut_short(&e, body.len(), length))?;
        if body.len() + chunk.remaining() > limit {
            return Err(too_large(limit));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            body.extend_from_slice(part);
            chunk.advance(n);
        }
    }
    let _ = PROGRESS.try_with(|p| p.arrived());
    Ok(body.freeze())
}
