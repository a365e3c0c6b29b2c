//! `lapse domains import FILE.csv`: good rows stored, bad rows reported by line.

use crate::harness::cli::TestEnv;

#[test]
fn csv_with_three_good_and_two_bad_rows_imports_three_and_reports_two() {
    let env = TestEnv::new();
    let csv = "host,client,contacts\n\
               shop.example.com,Acme,ops@acme.example.com;cto@acme.example.com\n\
               co.uk,Acme,\n\
               https://www.example.org:8443/,Globex,\n\
               10.0.0.1,,\n\
               bücher.de,,\n";
    let file = env.write("domains.csv", csv);
    let run = env.run(&["domains", "import", file.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout.contains("imported 3 row(s), 2 failed"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("line 3: `co.uk`") && run.stderr.contains("public suffix"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("line 5: `10.0.0.1`") && run.stderr.contains("IP address"),
        "{}",
        run.stderr
    );

    let domains = env.domains();
    let names: Vec<&str> = domains
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(
        names,
        vec!["example.com", "example.org", "xn--bcher-kva.de"]
    );
    let clients: serde_json::Value =
        serde_json::from_str(&env.run(&["clients", "list", "--json"]).stdout).expect("json");
    assert_eq!(clients[0]["name"], "Acme");
    assert_eq!(clients[0]["contacts"].as_array().map(Vec::len), Some(2));
    assert_eq!(clients[1]["name"], "Globex");

    // Importing the same file again stores no duplicate.
    let again = env.run(&["domains", "import", file.to_str().expect("utf-8 path")]);
    assert_eq!(again.code, 2);
    assert_eq!(env.domains(), domains);
}

#[test]
fn json_report_has_one_result_per_row() {
    let env = TestEnv::new();
    let file = env.write("d.csv", "client,host\nAcme,example.com\n,*.example.com\n");
    let run = env.run(&[
        "domains",
        "import",
        "--json",
        file.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    let report: serde_json::Value =
        serde_json::from_str(&run.stdout).expect("stdout is one JSON report");
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["status"], "stored");
    assert_eq!(rows[1]["status"], "failed");
    assert_eq!(rows[1]["line"], 3);
}

#[test]
fn bad_contact_fails_the_row_and_stores_nothing_from_it() {
    let env = TestEnv::new();
    let file = env.write(
        "d.csv",
        "host,client,contacts\nexample.com,Acme,not-an-address\n",
    );
    let run = env.run(&["domains", "import", file.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("line 2") && run.stderr.contains("not an email address"),
        "{}",
        run.stderr
    );
    assert_eq!(env.domains(), serde_json::json!([]));
}

#[test]
fn header_without_host_column_is_refused_before_any_row() {
    let env = TestEnv::new();
    let file = env.write("d.csv", "domain,client\nexample.com,Acme\n");
    let run = env.run(&["domains", "import", file.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("unknown column `domain`"),
        "{}",
        run.stderr
    );
    let run = env.run(&[
        "domains",
        "import",
        env.path("missing.csv").to_str().expect("utf-8"),
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("cannot open"), "{}", run.stderr);
}

/// Line numbers count lines as an editor does, whatever ends them: the
/// same bad rows are reported on the same lines in a CRLF file and an LF one.
#[test]
fn crlf_files_report_the_same_line_numbers_as_lf_files() {
    for ending in ["\n", "\r\n"] {
        let env = TestEnv::new();
        let csv = [
            "host,client",
            "shop.example.com,",
            "co.uk,",
            "",
            "www.example.org,",
            "10.0.0.1,",
            "",
        ]
        .join(ending);
        let file = env.write("domains.csv", &csv);
        let run = env.run(&["domains", "import", file.to_str().expect("utf-8 path")]);
        assert_eq!(run.code, 2, "{ending:?}: {run:?}");
        assert!(
            run.stdout
                .contains("line 2: stored endpoint shop.example.com"),
            "{ending:?}: {}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains("line 5: stored endpoint www.example.org"),
            "{ending:?}: {}",
            run.stdout
        );
        assert!(
            run.stderr.contains("line 3: `co.uk`"),
            "{ending:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("line 6: `10.0.0.1`"),
            "{ending:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_repeated_header_column_is_refused_before_any_row() {
    let env = TestEnv::new();
    let file = env.write(
        "domains.csv",
        "host,client,Host\nshop.example.com,,www.example.com\n",
    );
    let run = env.run(&["domains", "import", file.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("names the column `host` twice"),
        "{}",
        run.stderr
    );
    assert_eq!(env.domains(), serde_json::json!([]));
}
