//! `lapse clients ...` and `lapse domains ...`: what staff type, what is stored.

use crate::harness::cli::TestEnv;

fn endpoints(domains: &serde_json::Value) -> Vec<String> {
    domains
        .as_array()
        .expect("array")
        .iter()
        .flat_map(|d| {
            let name = d["name"].as_str().unwrap_or_default().to_owned();
            d["endpoints"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |e| {
                    format!(
                        "{}:{} @{}",
                        e["host"].as_str().unwrap_or_default(),
                        e["port"],
                        name
                    )
                })
        })
        .collect()
}

#[test]
fn url_with_port_stores_the_endpoint_under_its_registrable_domain() {
    let env = TestEnv::new();
    let run = env.run(&["domains", "add", "https://Shop.Example.co.uk:8443/x"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("stored endpoint shop.example.co.uk:8443 under domain example.co.uk"),
        "{}",
        run.stdout
    );
    assert_eq!(
        endpoints(&env.domains()),
        vec!["shop.example.co.uk:8443 @example.co.uk"]
    );
}

#[test]
fn adding_the_same_target_twice_changes_nothing() {
    let env = TestEnv::new();
    assert_eq!(
        env.run(&["domains", "add", "https://Shop.Example.co.uk:8443/x"])
            .code,
        0
    );
    let before = env.domains();
    let again = env.run(&[
        "domains",
        "add",
        "https://Shop.Example.co.uk:8443/x",
        "SHOP.example.co.uk.:8443",
    ]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);
    assert_eq!(env.domains(), before);
}

#[test]
fn default_port_is_443_and_endpoints_share_their_domain() {
    let env = TestEnv::new();
    let run = env.run(&[
        "domains",
        "add",
        "www.example.com",
        "example.com",
        "mail.example.com:587",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let domains = env.domains();
    assert_eq!(domains.as_array().map(Vec::len), Some(1));
    assert_eq!(
        endpoints(&domains),
        vec![
            "example.com:443 @example.com",
            "mail.example.com:587 @example.com",
            "www.example.com:443 @example.com"
        ]
    );
}

#[test]
fn rejected_inputs_exit_2_name_the_problem_and_store_nothing() {
    let env = TestEnv::new();
    let cases = [
        ("10.0.0.1", "is an IP address"),
        ("co.uk", "is a public suffix"),
        ("exa mple.com", "` ` is not allowed"),
        ("*.example.com", "wildcards are not targets"),
        ("example.notatld", "not a known top-level domain"),
        ("", "the name is empty"),
    ];
    for (input, message) in cases {
        let run = env.run(&["domains", "add", input]);
        assert_eq!(run.code, 2, "{input:?}: {run:?}");
        assert!(run.stderr.contains(message), "{input:?}: {}", run.stderr);
    }
    assert_eq!(env.domains(), serde_json::json!([]));
}

#[test]
fn one_bad_input_among_good_ones_stores_the_good_ones_and_fails() {
    let env = TestEnv::new();
    let run = env.run(&[
        "domains",
        "add",
        "good.example.com",
        "co.uk",
        "other.example.org",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("1 of 3 input(s) not stored"),
        "{}",
        run.stderr
    );
    assert_eq!(endpoints(&env.domains()).len(), 2);
}

#[test]
fn idn_is_stored_as_punycode_and_shown_in_unicode() {
    let env = TestEnv::new();
    let run = env.run(&["domains", "add", "BÜCHER.de"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("bücher.de"), "{}", run.stdout);
    let domains = env.domains();
    assert_eq!(domains[0]["name"], "xn--bcher-kva.de");
    assert_eq!(domains[0]["display_name"], "bücher.de");
    let text = env.run(&["domains", "list"]);
    assert!(text.stdout.contains("bücher.de"), "{}", text.stdout);
}

#[test]
fn private_tlds_from_config_are_accepted() {
    let env = TestEnv::new();
    assert_eq!(env.run(&["domains", "add", "a.b.shop.test:8443"]).code, 0);
    assert_eq!(
        endpoints(&env.domains()),
        vec!["a.b.shop.test:8443 @shop.test"]
    );
}

#[test]
fn clients_own_domains_and_contacts() {
    let env = TestEnv::new();
    let run = env.run(&[
        "clients",
        "add",
        "Acme Ltd",
        "--contact",
        "ops@acme.example.com",
        "--contact",
        "CTO@Acme.Example.com",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let again = env.run(&[
        "clients",
        "add",
        "acme ltd",
        "--contact",
        "ops@acme.example.com",
    ]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("client exists"), "{}", again.stdout);
    assert_eq!(
        env.run(&["domains", "add", "shop.acme.com", "--client", "Acme Ltd"])
            .code,
        0
    );
    assert_eq!(env.run(&["domains", "add", "other.org"]).code, 0);

    let clients: serde_json::Value =
        serde_json::from_str(&env.run(&["clients", "list", "--json"]).stdout).expect("json");
    assert_eq!(clients[0]["name"], "Acme Ltd");
    assert_eq!(clients[0]["domains"], 1);
    assert_eq!(
        clients[0]["contacts"],
        serde_json::json!(["CTO@acme.example.com", "ops@acme.example.com"])
    );

    let run = env.run(&["domains", "list", "--client", "Acme Ltd", "--json"]);
    let only: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(endpoints(&only), vec!["shop.acme.com:443 @acme.com"]);
}

#[test]
fn unknown_client_and_bad_contact_are_refused() {
    let env = TestEnv::new();
    let run = env.run(&["domains", "add", "example.com", "--client", "Nobody"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("no client named `Nobody`"),
        "{}",
        run.stderr
    );
    let run = env.run(&["clients", "add", "Acme", "--contact", "not-an-address"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("not an email address"),
        "{}",
        run.stderr
    );
    assert_eq!(env.domains(), serde_json::json!([]));
}

#[test]
fn a_domain_owned_by_one_client_is_not_silently_moved() {
    let env = TestEnv::new();
    env.run(&["clients", "add", "A"]);
    env.run(&["clients", "add", "B"]);
    assert_eq!(
        env.run(&["domains", "add", "example.com", "--client", "A"])
            .code,
        0
    );
    // B may watch its own endpoint under A's registration...
    let run = env.run(&["domains", "add", "www.example.com", "--client", "B"]);
    assert_eq!(run.code, 0, "{run:?}");
    // ...but neither A's endpoint nor A's registration moves to B.
    let run = env.run(&["domains", "add", "example.com", "--client", "B"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("belongs to client `A`"),
        "{}",
        run.stderr
    );
    assert_eq!(env.domains()[0]["client"], "A");
    assert_eq!(
        endpoints(&env.domains()),
        vec![
            "example.com:443 @example.com",
            "www.example.com:443 @example.com"
        ]
    );
}

#[test]
fn removing_a_client_with_domains_needs_release() {
    let env = TestEnv::new();
    env.run(&["clients", "add", "Acme"]);
    env.run(&["domains", "add", "example.com", "--client", "Acme"]);
    let run = env.run(&["clients", "remove", "Acme"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("still owns 1 domain"), "{}", run.stderr);
    let run = env.run(&["clients", "remove", "Acme", "--release-domains"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(env.domains()[0]["client"], serde_json::Value::Null);
}

#[test]
fn removing_an_endpoint_keeps_its_siblings_and_removing_the_domain_takes_all() {
    let env = TestEnv::new();
    env.run(&["domains", "add", "www.example.com", "shop.example.com:8443"]);
    let run = env.run(&["domains", "remove", "https://shop.example.com:8443/"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        endpoints(&env.domains()),
        vec!["www.example.com:443 @example.com"]
    );
    let run = env.run(&["domains", "remove", "example.com"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("removed endpoint www.example.com:443")
            && run.stdout.contains("removed domain example.com"),
        "{}",
        run.stdout
    );
    assert_eq!(env.domains(), serde_json::json!([]));
    let run = env.run(&["domains", "remove", "www.example.com"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("is not tracked"), "{}", run.stderr);
}

#[test]
fn help_is_available_everywhere() {
    let env = TestEnv::new();
    for args in [
        vec!["--help"],
        vec!["domains", "--help"],
        vec!["domains", "add", "--help"],
        vec!["domains", "import", "--help"],
        vec!["clients", "add", "--help"],
        vec!["serve", "--help"],
        vec!["config", "check", "--help"],
    ] {
        let run = env.run(&args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        assert!(run.stdout.contains("Usage:"), "{args:?}");
    }
}

/// `lapse domains list | head`: when stdout's reader has gone, lapse ends
/// quietly with 141 (as a tool stopped by SIGPIPE), text or JSON, without a
/// panic or a message.
#[test]
fn a_closed_stdout_ends_the_listing_quietly() {
    let env = TestEnv::new();
    assert_eq!(
        env.run(&["domains", "add", "www.example.com", "example.org"])
            .code,
        0
    );
    for args in [vec!["domains", "list"], vec!["domains", "list", "--json"]] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let output = env
            .command(&args)
            .stdout(writer)
            .output()
            .expect("run lapse");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(stderr.trim().is_empty(), "{args:?}: {stderr}");
    }
}
