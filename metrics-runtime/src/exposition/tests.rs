//! The text expositions: family names, canonical `le`, `# EOF`, and the entry points.

use std::time::Duration;

use crate::{Metrics, Op, Status};

#[test]
fn openmetrics_exposition_of_one_operation() {
    let m = Metrics::builder()
        .operation_buckets([0.5, 1.0])
        .build()
        .unwrap();
    m.record_operation(
        Op::Generate,
        "pkcs8",
        Status::Success,
        Duration::from_millis(750),
    );
    m.set_keys_total("pkcs8", 2);
    let expected = "\
# HELP keychain_operations Keychain operations, by operation, backend and outcome.
# TYPE keychain_operations counter
keychain_operations_total{backend=\"pkcs8\",operation=\"generate\",status=\"success\"} 1
keychain_operations_total{backend=\"pkcs8\",operation=\"generate\",status=\"error\"} 0
# HELP keychain_operation_duration_seconds Duration of keychain operations in seconds.
# TYPE keychain_operation_duration_seconds histogram
keychain_operation_duration_seconds_bucket{backend=\"pkcs8\",operation=\"generate\",le=\"0.5\"} 0
keychain_operation_duration_seconds_bucket{backend=\"pkcs8\",operation=\"generate\",le=\"1.0\"} 1
keychain_operation_duration_seconds_bucket{backend=\"pkcs8\",operation=\"generate\",le=\"+Inf\"} 1
keychain_operation_duration_seconds_sum{backend=\"pkcs8\",operation=\"generate\"} 0.75
keychain_operation_duration_seconds_count{backend=\"pkcs8\",operation=\"generate\"} 1
# HELP keychain_active_connections Requests or connections in flight, by protocol.
# TYPE keychain_active_connections gauge
keychain_active_connections{protocol=\"http\"} 0
keychain_active_connections{protocol=\"grpc\"} 0
keychain_active_connections{protocol=\"quic\"} 0
keychain_active_connections{protocol=\"mcp\"} 0
# HELP keychain_keys_total Keys held, by backend.
# TYPE keychain_keys_total gauge
keychain_keys_total{backend=\"pkcs8\"} 2
# EOF
";
    assert_eq!(m.encode_openmetrics(), expected);
}

#[test]
fn user_counters_get_the_total_suffix_in_openmetrics() {
    let m = Metrics::new();
    let plain = prometheus::IntCounter::new("app_restarts", "Restarts.").unwrap();
    let suffixed = prometheus::IntCounter::new("app_jobs_total", "Jobs \"done\".").unwrap();
    m.registry().register(Box::new(plain.clone())).unwrap();
    m.registry().register(Box::new(suffixed.clone())).unwrap();
    plain.inc();
    suffixed.inc_by(3);
    let om = m.encode_openmetrics();
    assert!(
        om.contains("# TYPE app_restarts counter\napp_restarts_total 1\n"),
        "{om}"
    );
    assert!(
        om.contains(
            "# HELP app_jobs Jobs \\\"done\\\".\n# TYPE app_jobs counter\napp_jobs_total 3\n"
        ),
        "{om}"
    );
    assert!(om.ends_with("# EOF\n"));
    assert_eq!(om.matches("# EOF").count(), 1);
    let text = m.encode_text();
    assert!(
        text.contains("# TYPE app_restarts counter\napp_restarts 1\n"),
        "{text}"
    );
}

/// The family table is the single source: the listing that both writers walk covers
/// every declared family, once, in the declared order.
#[test]
fn the_listing_covers_every_declared_family() {
    let m = Metrics::new();
    let mut listed: Vec<String> = Vec::new();
    m.store.each_listed(&mut |l| {
        assert_eq!(l.specs.len(), l.heads().len());
        listed.extend(l.heads().iter().map(|h| h.name.to_owned()));
    });
    let declared: Vec<String> = crate::contract::ALL
        .iter()
        .map(|s| format!("keychain_{}", s.suffix))
        .collect();
    assert_eq!(listed, declared);
}

/// Every declared family, given one series, is exposed by both formats and by the
/// `prometheus` bridge; adding a family to the table without a way to record into it
/// makes this fail.
/// Records once into every family of the contract.
pub(crate) fn record_every_family(m: &Metrics) {
    use crate::contract::labels::HttpMethod;
    use crate::contract::*;
    use crate::Protocol;

    let d = Duration::from_millis(3);
    m.record_operation(Op::Sign, "pkcs8", Status::Success, d);
    m.record_error(Op::Sign, "pkcs8", "timeout");
    m.record_http(HttpMethod::Get, 200, d);
    m.record_grpc_request("/k.K/Sign", crate::GrpcCode::Ok, d);
    m.set_keys_total("pkcs8", 1);
    m.set_certs_total("pkcs8", 1);
    m.set_backend_healthy("pkcs8", true);
    let s = &m.store;
    let f = &s.families;
    s.add(
        &HTTP_ROUTE_REQUESTS,
        &f.http_routes,
        ["GET", "/keys", "200"],
        1,
    );
    s.observe(
        &HTTP_ROUTE_DURATION,
        &f.http_route_durations,
        &s.buckets.http,
        ["GET", "/keys"],
        1,
    );
    s.add(&GRPC_RECEIVED, &f.grpc_received, ["/k.K/Sign"], 1);
    s.add(&GRPC_SENT, &f.grpc_sent, ["/k.K/Sign"], 1);
    s.add(&GRPC_CALLS, &f.grpc_calls, ["/k.K/Sign", "unary"], 1);
    s.add(&TCP_OPEN, &f.tcp_open.0, [Protocol::Http.as_str()], 1);
    s.add(&TCP_ACCEPTED, &f.tcp_accepted, [Protocol::Http.as_str()], 1);
}

#[test]
fn every_declared_family_is_exposed() {
    use crate::contract::*;

    let m = Metrics::new();
    record_every_family(&m);
    let text = m.encode_text();
    let om = m.encode_openmetrics();
    let gathered: Vec<String> = m
        .registry()
        .gather()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    for spec in ALL {
        let name = spec.name("keychain");
        assert!(
            text.contains(&format!("# TYPE {name} {}\n", spec.kind.as_str())),
            "{name} in text"
        );
        let om_name = match spec.kind {
            Kind::Counter => name.strip_suffix("_total").unwrap_or(&name),
            _ => &name,
        };
        assert!(
            om.contains(&format!("# TYPE {om_name} {}\n", spec.kind.as_str())),
            "{name} in OpenMetrics"
        );
        assert!(gathered.contains(&name), "{name} in gather()");
    }
}

/// OpenMetrics with `timestamp` in place of each exemplar's timestamp, after checking
/// that it lies between `before` and `after` (Unix seconds).
fn without_exemplar_timestamps(text: &str, before: f64, after: f64) -> String {
    text.lines()
        .map(|line| match line.split_once(" # {") {
            Some(_) => {
                let (head, ts) = line.rsplit_once(' ').unwrap();
                let ts: f64 = ts.parse().unwrap();
                // The coarse clock may be a kernel tick (at most 10 ms) behind.
                assert!(
                    ts >= before - 0.011 && ts <= after + 0.001,
                    "{ts} in {line}"
                );
                assert!(
                    ts.to_string().split('.').nth(1).map_or(0, str::len) <= 3,
                    "{line}"
                );
                format!("{head} timestamp\n")
            }
            None => format!("{line}\n"),
        })
        .collect()
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn openmetrics_carries_the_latest_exemplar_of_each_bucket_and_error_counter() {
    use crate::trace::TraceContext;

    let m = Metrics::builder()
        .operation_buckets([0.5, 1.0])
        .exemplars(true)
        .build()
        .unwrap();
    let sign = m.operation(Op::Sign, "pkcs11");
    let first =
        TraceContext::from_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            .unwrap();
    let second =
        TraceContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap();
    let before = unix_now();
    sign.record(Status::Success, Duration::from_millis(100)); // no trace: no exemplar
    {
        let _in = first.enter();
        sign.record(Status::Success, Duration::from_millis(750));
        sign.record(Status::Error, Duration::from_secs(3));
        sign.record_error("timeout");
    }
    {
        let _in = second.enter();
        sign.record(Status::Success, Duration::from_millis(800)); // replaces the 750 ms
        m.record_error(Op::Sign, "pkcs11", "timeout");
    }
    let after = unix_now();
    let expected = "\
# HELP keychain_operations Keychain operations, by operation, backend and outcome.
# TYPE keychain_operations counter
keychain_operations_total{backend=\"pkcs11\",operation=\"sign\",status=\"success\"} 3
keychain_operations_total{backend=\"pkcs11\",operation=\"sign\",status=\"error\"} 1
# HELP keychain_operation_duration_seconds Duration of keychain operations in seconds.
# TYPE keychain_operation_duration_seconds histogram
keychain_operation_duration_seconds_bucket{backend=\"pkcs11\",operation=\"sign\",le=\"0.5\"} 1
keychain_operation_duration_seconds_bucket{backend=\"pkcs11\",operation=\"sign\",le=\"1.0\"} 3 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 0.8 timestamp
keychain_operation_duration_seconds_bucket{backend=\"pkcs11\",operation=\"sign\",le=\"+Inf\"} 4 # {trace_id=\"0af7651916cd43dd8448eb211c80319c\",span_id=\"b7ad6b7169203331\"} 3.0 timestamp
keychain_operation_duration_seconds_sum{backend=\"pkcs11\",operation=\"sign\"} 4.65
keychain_operation_duration_seconds_count{backend=\"pkcs11\",operation=\"sign\"} 4
# HELP keychain_errors Failed keychain operations, by operation, backend and error type.
# TYPE keychain_errors counter
keychain_errors_total{backend=\"pkcs11\",error_type=\"timeout\",operation=\"sign\"} 2 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 1 timestamp
";
    let om = m.encode_openmetrics();
    let got = without_exemplar_timestamps(&om, before, after);
    assert!(got.starts_with(expected), "{got}");
    // The text format has no exemplars: the same lines as without them.
    let text = m.encode_text();
    assert!(!text.contains(" # {"), "{text}");
    assert!(text.contains(
        "keychain_operation_duration_seconds_bucket{backend=\"pkcs11\",operation=\"sign\",le=\"1\"} 3\n"
    ));
}

#[test]
fn an_instance_without_exemplars_keeps_none_even_in_a_trace() {
    let m = Metrics::new();
    let t = crate::trace::TraceContext::new([7; 16], [8; 8]).unwrap();
    let _in = t.enter();
    m.record_operation(Op::Get, "pkcs8", Status::Success, Duration::from_millis(1));
    m.record_error(Op::Get, "pkcs8", "timeout");
    assert!(!m.encode_openmetrics().contains(" # {"));
}

#[test]
fn the_byte_entry_point_writes_every_format() {
    use crate::{Format, TextFormat};

    let m = Metrics::new();
    m.record_operation(
        Op::Sign,
        "pkcs11",
        Status::Success,
        Duration::from_millis(2),
    );
    for text in [TextFormat::Text, TextFormat::OpenMetrics] {
        let mut bytes = b"prefix\n".to_vec();
        m.encode(text.into(), &mut bytes);
        let mut expected = "prefix\n".to_owned();
        m.encode_into(text, &mut expected);
        assert_eq!(bytes, expected.into_bytes(), "{text:?}");
    }
    let mut protobuf = Vec::new();
    m.encode_protobuf(&mut protobuf);
    let mut bytes = Vec::new();
    m.encode(Format::Protobuf, &mut bytes);
    assert_eq!(bytes, protobuf);
    // After bytes that are not UTF-8 (a protobuf body), text is appended all the same.
    m.encode(Format::Text, &mut bytes);
    assert_eq!(&bytes[..protobuf.len()], &protobuf[..]);
    assert_eq!(&bytes[protobuf.len()..], m.encode_text().as_bytes());
    assert_eq!(
        Format::Protobuf.content_type(),
        crate::PROTOBUF_CONTENT_TYPE
    );
    assert_eq!(
        TextFormat::OpenMetrics.content_type(),
        crate::OPENMETRICS_CONTENT_TYPE
    );
}

#[test]
fn created_samples_follow_their_counter_and_histogram_in_openmetrics_only() {
    let unix_secs = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let m = Metrics::builder()
        .operation_buckets([0.5])
        .created_samples(true)
        .build()
        .unwrap();
    let before = unix_secs();
    m.record_operation(
        Op::Sign,
        "pkcs11",
        Status::Success,
        Duration::from_millis(2),
    );
    m.set_keys_total("pkcs11", 3);
    let after = unix_secs();
    let om = m.encode_openmetrics();
    let lines: Vec<&str> = om.lines().collect();
    let created_after = |sample: &str, created: &str| {
        let at = lines
            .iter()
            .position(|l| l.starts_with(sample))
            .unwrap_or_else(|| panic!("no {sample} in {om}"));
        let next = lines[at + 1];
        let value = next
            .strip_prefix(created)
            .unwrap_or_else(|| panic!("{next} after {sample}"));
        let secs: f64 = value.trim().parse().unwrap();
        // Written to the millisecond.
        assert!(
            before - 0.001 <= secs && secs <= after,
            "{before} <= {secs} <= {after}"
        );
        assert_eq!(
            value.trim().split('.').nth(1).map(str::len),
            Some(3),
            "{value}"
        );
        secs
    };
    let labels = r#"{backend="pkcs11",operation="sign",status="success"}"#;
    let a = created_after(
        &format!("keychain_operations_total{labels} 1"),
        &format!("keychain_operations_created{labels} "),
    );
    let e = created_after(
        r#"keychain_operations_total{backend="pkcs11",operation="sign",status="error"} 0"#,
        r#"keychain_operations_created{backend="pkcs11",operation="sign",status="error"} "#,
    );
    let h = created_after(
        r#"keychain_operation_duration_seconds_count{backend="pkcs11",operation="sign"} 1"#,
        r#"keychain_operation_duration_seconds_created{backend="pkcs11",operation="sign"} "#,
    );
    assert!(a == e && e == h, "one series, one start: {a} {e} {h}");
    assert!(
        !om.contains("keychain_keys_created"),
        "gauges have no start"
    );
    assert!(om.ends_with("# EOF\n"));
    // Never in the text format, and not in OpenMetrics unless asked for.
    assert!(!m.encode_text().contains("_created"));
    let plain = Metrics::new();
    plain.record_operation(
        Op::Sign,
        "pkcs11",
        Status::Success,
        Duration::from_millis(2),
    );
    assert!(!plain.encode_openmetrics().contains("_created"));
}

#[test]
fn an_operation_that_resets_restarts_its_counter_and_histogram_with_one_start() {
    use crate::NativeHistogram;
    let native = NativeHistogram::default()
        .schema(0)
        .max_buckets(8)
        .min_reset_duration(Duration::from_millis(1));
    let m = Metrics::builder()
        .operation_buckets([0.5])
        .operation_native(Some(native))
        .created_samples(true)
        .build()
        .unwrap();
    let sign = m.operation(Op::Sign, "pkcs11");
    sign.record(Status::Success, Duration::from_micros(1));
    sign.record(Status::Error, Duration::from_micros(2));
    std::thread::sleep(Duration::from_millis(5));
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // 1 s is 19 buckets above 1 µs: more than eight, so the series restarts.
    sign.record(Status::Success, Duration::from_secs(1));
    let om = m.encode_openmetrics();
    let value = |prefix: &str| -> f64 {
        let line = om
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {om}"));
        line[prefix.len()..].trim().parse().unwrap()
    };
    let labels = r#"{backend="pkcs11",operation="sign""#;
    assert_eq!(
        value(&format!(
            r#"keychain_operations_total{labels},status="success"}}"#
        )),
        1.0
    );
    assert_eq!(
        value(&format!(
            r#"keychain_operations_total{labels},status="error"}}"#
        )),
        0.0
    );
    assert_eq!(
        value(&format!(
            "keychain_operation_duration_seconds_count{labels}}}"
        )),
        1.0
    );
    let starts = [
        value(&format!(
            r#"keychain_operations_created{labels},status="success"}}"#
        )),
        value(&format!(
            r#"keychain_operations_created{labels},status="error"}}"#
        )),
        value(&format!(
            "keychain_operation_duration_seconds_created{labels}}}"
        )),
    ];
    assert!(starts.iter().all(|&s| s == starts[0]), "{starts:?}");
    assert!(
        starts[0] >= before - 0.001,
        "{} is the reset, after {before}",
        starts[0]
    );
}
