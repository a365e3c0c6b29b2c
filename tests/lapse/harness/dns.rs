//! A tiny UDP DNS responder on 127.0.0.1 that answers A/AAAA for test
//! names from a [`Zone`], NXDOMAIN for the rest, SERVFAIL or silence on
//! request; [`DnsServer::set_zone`] changes its answers while it runs
//! (a resolver going down and coming back).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock};

use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA};
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;

use super::AbortOnDrop;

/// What the test DNS server knows.
#[derive(Debug, Default, Clone)]
pub struct Zone {
    hosts: HashMap<String, Vec<IpAddr>>,
    servfail: Vec<String>,
    silent: Vec<String>,
}

fn absolute(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

impl Zone {
    pub fn new() -> Self {
        Self::default()
    }

    /// A and AAAA records for `name`.
    pub fn host(mut self, name: &str, addresses: &[IpAddr]) -> Self {
        self.hosts.insert(absolute(name), addresses.to_vec());
        self
    }

    /// `name` answers SERVFAIL.
    pub fn servfail(mut self, name: &str) -> Self {
        self.servfail.push(absolute(name));
        self
    }

    /// Queries for `name` get no answer at all.
    pub fn silent(mut self, name: &str) -> Self {
        self.silent.push(absolute(name));
        self
    }

    fn answer(&self, query: &Message) -> Option<Message> {
        let question = query.queries.first()?;
        let name = absolute(&question.name().to_ascii());
        if self.silent.contains(&name) {
            return None;
        }
        let mut response = Message::response(query.metadata.id, query.metadata.op_code);
        response.metadata.recursion_desired = query.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.metadata.authoritative = true;
        response.add_query(question.clone());
        if self.servfail.contains(&name) {
            response.metadata.response_code = ResponseCode::ServFail;
            return Some(response);
        }
        let Some(addresses) = self.hosts.get(&name) else {
            response.metadata.response_code = ResponseCode::NXDomain;
            return Some(response);
        };
        for address in addresses {
            let rdata = match (address, question.query_type()) {
                (IpAddr::V4(v4), RecordType::A) => RData::A(A(*v4)),
                (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(*v6)),
                _ => continue,
            };
            // TTL 0: a resolver does not keep the answer, so a changed zone
            // (`set_zone`) is seen at once.
            response.add_answer(Record::from_rdata(question.name().clone(), 0, rdata));
        }
        Some(response)
    }
}

/// A UDP DNS server on 127.0.0.1 answering from a [`Zone`].
pub struct DnsServer {
    pub addr: SocketAddr,
    zone: Arc<RwLock<Zone>>,
    _task: AbortOnDrop,
}

impl DnsServer {
    pub async fn start(zone: Zone) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind DNS");
        let addr = socket.local_addr().expect("local addr");
        let zone = Arc::new(RwLock::new(zone));
        let answers = zone.clone();
        let task = tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            loop {
                let Ok((length, peer)) = socket.recv_from(&mut buffer).await else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buffer[..length]) else {
                    continue;
                };
                let response = answers
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .answer(&query);
                if let Some(response) = response {
                    if let Ok(bytes) = response.to_vec() {
                        let _ = socket.send_to(&bytes, peer).await;
                    }
                }
            }
        });
        Self {
            addr,
            zone,
            _task: AbortOnDrop(task),
        }
    }

    /// Answers from `zone` from now on.
    pub fn set_zone(&self, zone: Zone) {
        *self.zone.write().unwrap_or_else(PoisonError::into_inner) = zone;
    }
}
