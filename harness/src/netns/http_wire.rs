//! HTTP/1.1 on kasim's agent's stream, for a `program` strategy whose
//! server is a real HTTP server (nginx, say) and whose client is the agent.
//!
//! Why: a real server does not speak kasim's message frames, and the failures
//! users bring from HTTP servers (a request that meets the server's
//! keep-alive close) are request outcomes, which only a client that counts
//! its requests can measure. So the agent keeps the event engine's
//! application (its workload, request timeouts, reconnects, request book) and
//! changes only what goes on the wire:
//!
//! * each request (`[[traffic]] kind = "requests"`) is a `GET
//!   /kasim/<id>` with a `Host` header, padded by one `X-Kasim-Pad` header to
//!   the request's `size` (a size below the bare request's 40-odd bytes
//!   sends the bare request);
//! * each response is parsed (httparse) and read to the end of its body by
//!   its `Content-Length` (none: no body, as for a 204); it answers the
//!   oldest request not yet answered, as HTTP/1.1 without pipelining
//!   answers in order. Its size is what the server sent, not the
//!   scenario's `reply`.
//!
//! A response with `Transfer-Encoding` (chunked) or one that is not HTTP
//! stops the reading of replies with an error the agent prints: configure
//! the server to send a `Content-Length`.

use crate::wire::{tag, tag_id, Class};
use std::collections::VecDeque;

/// The most headers a response may carry.
const MAX_HEADERS: usize = 64;

/// Why the server's bytes are no longer read as replies.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HttpError {
    /// httparse refused the response head.
    #[error("the server's reply is not HTTP/1.1: {0}")]
    NotHttp(String),
    /// A body this reader cannot delimit.
    #[error("the server's reply has Transfer-Encoding {0:?}: allowed: a Content-Length, or no body")]
    Encoding(String),
    /// A `Content-Length` that is not a number.
    #[error("the server's reply has Content-Length {0:?}: allowed: a whole number of bytes")]
    Length(String),
}

/// One HTTP/1.1 client connection's two directions.
#[derive(Debug, Default)]
pub struct HttpWire {
    /// Tags of the requests sent and not yet answered, oldest first.
    pending: VecDeque<u64>,
    buf: Vec<u8>,
    /// Bytes read so far.
    pub total: u64,
}

impl HttpWire {
    /// The bytes of a request of `size` bytes with `tag`.
    pub fn request(&mut self, size: u64, tag: u64) -> Vec<u8> {
        self.pending.push_back(tag);
        let line = format!("GET /kasim/{} HTTP/1.1\r\nHost: kasim\r\n", tag_id(tag));
        const PAD: &str = "X-Kasim-Pad: ";
        // The request line and host, the pad header's name and its CRLF, the final CRLF.
        let bare = (line.len() + 2) as u64;
        let mut out = line.into_bytes();
        if let Some(pad) = size.checked_sub(bare + PAD.len() as u64 + 2) {
            out.extend_from_slice(PAD.as_bytes());
            out.resize(out.len() + pad as usize, b'a');
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Bytes read: the replies they complete, as (tag, size). A reply's tag
    /// is the reply to the oldest pending request (or untagged, 0, when the
    /// server answered more than was asked).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<(u64, u64)>, HttpError> {
        self.total += bytes.len() as u64;
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut headers);
            let head = match response.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => break,
                Err(e) => return Err(HttpError::NotHttp(e.to_string())),
            };
            let mut body = 0u64;
            for h in response.headers.iter() {
                let value = String::from_utf8_lossy(h.value).trim().to_string();
                if h.name.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(HttpError::Encoding(value));
                }
                if h.name.eq_ignore_ascii_case("content-length") {
                    body = value.parse().map_err(|_| HttpError::Length(value))?;
                }
            }
            let informational = response.code.is_some_and(|c| (100..200).contains(&c));
            let whole = head as u64 + body;
            if (self.buf.len() as u64) < whole {
                break;
            }
            self.buf.drain(..whole as usize);
            // A 1xx is not the answer; the final response follows it.
            if !informational {
                let answered = self.pending.pop_front().map_or(0, |t| tag(Class::Reply, tag_id(t)));
                out.push((answered, whole));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_tag(id: u64) -> u64 {
        tag(Class::Request, id)
    }

    /// A request keeps its size on the wire down to the bare request, which
    /// httparse reads as a GET with the pad header.
    #[test]
    fn a_request_is_a_get_padded_to_its_size() {
        let mut w = HttpWire::default();
        let r = w.request(200, request_tag(7));
        assert_eq!(r.len(), 200);
        let mut headers = [httparse::EMPTY_HEADER; 4];
        let mut req = httparse::Request::new(&mut headers);
        assert_eq!(req.parse(&r), Ok(httparse::Status::Complete(200)));
        assert_eq!((req.method, req.path), (Some("GET"), Some("/kasim/7")));
        assert_eq!(req.headers[1].name, "X-Kasim-Pad");
        // "GET /kasim/7 HTTP/1.1\r\n" (23) + "Host: kasim\r\n" (13) + "\r\n" (2) = 38
        // bytes bare; the pad header ("X-Kasim-Pad: " and CRLF) needs 15 more,
        // so 53 is the least padded size and anything under it is sent bare.
        assert_eq!(w.request(10, request_tag(7)).len(), 38);
        assert_eq!(w.request(52, request_tag(7)).len(), 38);
        assert_eq!(w.request(53, request_tag(7)).len(), 53);
        assert_eq!(w.request(54, request_tag(7)).len(), 54);
    }

    /// Replies in pieces, by Content-Length and without a body, answer the
    /// requests in order; a 100 Continue answers none.
    #[test]
    fn replies_answer_the_oldest_request_and_keep_their_size() {
        let mut w = HttpWire::default();
        w.request(100, request_tag(1));
        w.request(100, request_tag(2));
        let first = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let second = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nServer: nginx\r\n\r\n";
        assert_eq!(w.push(&first[..20]), Ok(vec![]));
        assert_eq!(w.push(&first[20..first.len() - 1]), Ok(vec![]), "the body is a byte short");
        assert_eq!(w.push(&first[first.len() - 1..]), Ok(vec![(tag(Class::Reply, 1), first.len() as u64)]));
        let continue_len = "HTTP/1.1 100 Continue\r\n\r\n".len() as u64;
        assert_eq!(w.push(second), Ok(vec![(tag(Class::Reply, 2), second.len() as u64 - continue_len)]));
        assert_eq!(w.total, (first.len() + second.len()) as u64);
        // An answer nobody asked for is untagged.
        assert_eq!(w.push(b"HTTP/1.1 204 No Content\r\n\r\n"), Ok(vec![(0, 27)]));
    }

    #[test]
    fn chunked_replies_and_other_protocols_are_errors() {
        let mut w = HttpWire::default();
        let chunked = w.push(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(chunked, Err(HttpError::Encoding("chunked".into())));
        let mut w = HttpWire::default();
        assert!(matches!(w.push(b"\x00\x00\x00\x0c kasim frame"), Err(HttpError::NotHttp(_))));
        let mut w = HttpWire::default();
        assert_eq!(w.push(b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n"), Err(HttpError::Length("lots".into())));
    }
}
