//! A local HTTP server for APIs no emulator covers: each request goes to a handler that
//! answers with the JSON the API documents. Requests are logged (method, path and query,
//! body) for the test to check.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// What a handler answers: status line, extra headers, JSON body, and how it is sent.
pub struct Reply {
    pub status: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub fault: Fault,
}

/// Ways a server misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Close the connection without answering.
    Reset,
    /// Announce the whole body, send half of it, close.
    Truncate,
    /// Send a body that is not JSON (with a 200).
    Malformed,
    /// Wait this many seconds before answering.
    Delay(u64),
    /// Wait this many milliseconds before answering.
    Pause(u64),
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply {
            status: "200 OK",
            headers: Vec::new(),
            body,
            fault: Fault::None,
        }
    }
    pub fn status(status: &'static str, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body,
            fault: Fault::None,
        }
    }
    pub fn with_fault(mut self, fault: Fault) -> Reply {
        self.fault = fault;
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// One logged request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Wait until something listens on 127.0.0.1:`port` (a server the test started).
pub fn wait_for_port(port: u16, what: &str, seconds: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not start on port {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

type Handler = dyn Fn(&Request, usize) -> Reply + Send + Sync;

pub struct StandIn {
    pub port: u16,
    pub log: Arc<Mutex<Vec<Request>>>,
}

impl StandIn {
    /// Serve on a free port; the handler gets each request and its 0-based number.
    pub fn start(handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log: Arc<Mutex<Vec<Request>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let keep = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, handler) = (keep.clone(), handler.clone());
                std::thread::spawn(move || serve(stream, &log, &*handler));
            }
        });
        StandIn { port, log }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, log: &Mutex<Vec<Request>>, handler: &Handler) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = Vec::new();
        let mut len = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let req = Request {
            method,
            target,
            headers,
            body: String::from_utf8_lossy(&body).to_string(),
        };
        let n = {
            let mut l = log.lock().unwrap();
            l.push(req.clone());
            l.len() - 1
        };
        let reply = handler(&req, n);
        let mut text = reply.body.to_string();
        match reply.fault {
            Fault::Reset => {
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return;
            }
            Fault::Malformed => text = "{\"properties\": {\"rows\": [[1, 2".to_string(),
            Fault::Delay(secs) => std::thread::sleep(std::time::Duration::from_secs(secs)),
            Fault::Pause(ms) => std::thread::sleep(std::time::Duration::from_millis(ms)),
            Fault::Truncate | Fault::None => {}
        }
        let mut out = format!(
            "HTTP/1.1 {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            reply.status,
            text.len()
        );
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        if reply.fault == Fault::Truncate {
            out.push_str(&text[..text.len() / 2]);
            let mut s = &stream;
            let _ = s.write_all(out.as_bytes());
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        out.push_str(&text);
        let mut s = &stream;
        if s.write_all(out.as_bytes()).is_err() {
            return;
        }
    }
}
