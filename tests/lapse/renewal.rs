//! "Renewed" only when renewed (issue 14 item 7), end to end: a name on two
//! loopback addresses (loopback DNS), a TLS server on each, the real scan
//! engine under the test clock, mail in memory. A renewal notice means the
//! certificate served on the same addresses was replaced by one that
//! expires later; a change in the set of observed addresses (pinning one,
//! as `lapse domains endpoint HOST:PORT --pin ADDRESS` does) is not one.

use std::net::SocketAddr;

use chrono::DateTime;
use chrono::Utc;
use lapse::domain::names::HostName;
use lapse::notify::email::OutgoingEmail;

use crate::harness::app::TestApp;
use crate::harness::dns::{DnsServer, Zone};
use crate::harness::ip;
use crate::harness::pki::{Issued, TestPki};
use crate::harness::sites::{CLIENT, CONTACTS, STAFF};
use crate::harness::tls::{Prelude, TlsServer};

const HOST: &str = "shop.lapse.test";

/// An endpoint whose name resolves to 127.0.0.1 and 127.0.0.2, one TLS
/// server on each (same port), client Acme.
struct TwoAddresses {
    lab: TestApp,
    port: u16,
    servers: [Option<TlsServer>; 2],
    _dns: DnsServer,
}

impl TwoAddresses {
    async fn new(first: &Issued, second: &Issued, pki: TestPki) -> Self {
        let dns =
            DnsServer::start(Zone::new().host(HOST, &[ip("127.0.0.1"), ip("127.0.0.2")])).await;
        let lab = TestApp::builder()
            .pki(pki)
            .client(CLIENT, &CONTACTS)
            .rdap()
            .memory_mail()
            .config(&format!(
                "[dns]\nnameservers = [\"{}\"]\n\n[alerts]\nstaff = [\"{STAFF}\"]\n",
                dns.addr
            ))
            .build()
            .await;
        let one = TlsServer::start(ip("127.0.0.1"), lab.pki.served(first), first.key_der()).await;
        let port = one.addr.port();
        let mut lab = Self {
            lab,
            port,
            servers: [Some(one), None],
            _dns: dns,
        };
        lab.serve(1, second).await;
        lapse::inventory::add_target(
            &lab.lab.store,
            &lab.lab.app.config.names.policy(),
            443,
            &format!("{HOST}:{port}"),
            &lapse::inventory::AddOptions {
                client: Some(CLIENT.to_owned()),
                ..Default::default()
            },
            lab.lab.now(),
        )
        .await
        .expect("add endpoint");
        lab
    }

    /// Address `index` (0: 127.0.0.1, 1: 127.0.0.2) serves `leaf`.
    async fn serve(&mut self, index: usize, leaf: &Issued) {
        self.servers[index] = None;
        let address = SocketAddr::new(ip(["127.0.0.1", "127.0.0.2"][index]), self.port);
        for _ in 0..250 {
            if std::net::TcpListener::bind(address).is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let server = TlsServer::start_on(
            address,
            self.lab.pki.served(leaf),
            leaf.key_der(),
            Prelude::None,
        )
        .await;
        self.servers[index] = Some(server);
    }

    async fn pin(&self, address: &str) {
        self.lab
            .store
            .pin_endpoint(
                &HostName::from_canonical(HOST),
                self.port,
                Some(ip(address)),
            )
            .await
            .expect("pin");
    }

    async fn scan_and_deliver(&self, at: DateTime<Utc>) -> Vec<OutgoingEmail> {
        let before = self.lab.mailbox().sent().len();
        self.lab.scan(at).await;
        self.lab.deliver(at).await;
        // What the client receives (staff get their own copy of each).
        self.lab
            .mailbox()
            .sent()
            .split_off(before)
            .into_iter()
            .filter(|m| !m.to.iter().any(|to| to == STAFF))
            .collect()
    }
}

fn subjects(mail: &[OutgoingEmail]) -> Vec<String> {
    mail.iter().map(|m| m.subject.clone()).collect()
}

fn leaf(pki: &TestPki, from_days: i64, to_days: i64) -> Issued {
    pki.leaf(
        &[HOST],
        crate::harness::pki::Validity::days(pki.now, from_days, to_days),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinning_an_address_that_serves_the_same_certificate_is_no_renewal() {
    let pki = TestPki::new();
    let soon = leaf(&pki, -80, 10);
    let mut lab = TwoAddresses::new(&soon, &soon, pki).await;
    let mail = lab.scan_and_deliver(lab.lab.now()).await;
    assert_eq!(mail.len(), 1, "{:?}", subjects(&mail));
    assert!(
        mail[0].subject.contains("expires in"),
        "{:?}",
        subjects(&mail)
    );

    // Pinned to the second address, still serving the same certificate.
    lab.pin("127.0.0.2").await;
    let mail = lab.scan_and_deliver(lab.lab.later(2)).await;
    assert_eq!(subjects(&mail), Vec::<String>::new());

    // A real renewal on that address still says so, once.
    let renewed = leaf(&lab.lab.pki, -1, 89);
    lab.serve(1, &renewed).await;
    let mail = lab.scan_and_deliver(lab.lab.later(4)).await;
    assert_eq!(mail.len(), 1, "{:?}", subjects(&mail));
    assert!(mail[0].subject.contains("renewed"), "{:?}", subjects(&mail));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinning_away_from_the_expiring_certificate_is_no_renewal() {
    let pki = TestPki::new();
    // The first address serves a certificate about to expire, the second a
    // later one it has served all along.
    let soon = leaf(&pki, -80, 10);
    let later = leaf(&pki, -10, 80);
    let mut lab = TwoAddresses::new(&soon, &later, pki).await;
    let mail = lab.scan_and_deliver(lab.lab.now()).await;
    assert!(
        subjects(&mail)
            .iter()
            .any(|s| s.contains("expires in 10 days")),
        "{:?}",
        subjects(&mail)
    );

    // Pinned to the second address: its certificate did not change.
    lab.pin("127.0.0.2").await;
    let mail = lab.scan_and_deliver(lab.lab.later(2)).await;
    assert!(
        !subjects(&mail).iter().any(|s| s.contains("renewed")),
        "{:?}",
        subjects(&mail)
    );

    // Unpinned, the first address renewed: that is a renewal.
    lab.lab
        .store
        .pin_endpoint(&HostName::from_canonical(HOST), lab.port, None)
        .await
        .expect("unpin");
    // The expiring certificate is back in view; its reminder was sent already.
    let mail = lab.scan_and_deliver(lab.lab.later(3)).await;
    assert_eq!(subjects(&mail), Vec::<String>::new());
    let renewed = leaf(&lab.lab.pki, -1, 89);
    lab.serve(0, &renewed).await;
    let mail = lab.scan_and_deliver(lab.lab.later(4)).await;
    // (The two addresses still serve different certificates, a check
    // failure of its own after two checks; the renewal is said once.)
    let renewed: Vec<String> = subjects(&mail)
        .into_iter()
        .filter(|s| s.contains("renewed"))
        .collect();
    assert_eq!(renewed.len(), 1, "{:?}", subjects(&mail));
}
