//! The scenarios of issue 7, as `bench-load` arguments.

/// What a scenario's ratios compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Headline {
    /// Completed calls per second (higher is better).
    CallsPerS,
    /// Response megabytes per second (higher is better).
    MbPerS,
    /// Resident KiB per idle connection (lower is better).
    KibPerConnection,
}

/// h2load settings for a scenario it can drive too (unary only: h2load sends one body).
#[derive(Clone, Copy, Debug)]
pub struct H2load {
    /// Clients (connections).
    pub connections: usize,
    /// Concurrent streams per client.
    pub streams: usize,
    /// Size of the `HelloRequest` message.
    pub request_size: usize,
}

/// One benchmark scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Name in the table.
    pub name: &'static str,
    /// `bench-load` arguments (besides address, timing and output flags).
    pub load_args: Vec<String>,
    /// What the ratios compare.
    pub headline: Headline,
    /// Idle scenario: number of connections held.
    pub idle_connections: Option<usize>,
    /// Whether h2load runs it too.
    pub h2load: Option<H2load>,
}

/// A control-frame flood: frames count as calls, so the server's CPU per call is its
/// CPU per frame.
fn flood(name: &'static str, frame: &str) -> Scenario {
    Scenario {
        name,
        load_args: args(&["--scenario", "flood", "--flood-frame", frame]),
        headline: Headline::CallsPerS,
        idle_connections: None,
        h2load: None,
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Every scenario, in table order. `idle_connections` is 1,000 in a full run.
pub fn all(idle_connections: usize) -> Vec<Scenario> {
    let idle = idle_connections.to_string();
    vec![
        Scenario {
            name: "unary 10 B, 1x1 (latency)",
            load_args: args(&[
                "--scenario",
                "unary",
                "--request-size",
                "10",
                "-c",
                "1",
                "-s",
                "1",
            ]),
            headline: Headline::CallsPerS,
            idle_connections: None,
            h2load: Some(H2load {
                connections: 1,
                streams: 1,
                request_size: 10,
            }),
        },
        Scenario {
            name: "unary 10 B, 4x64",
            load_args: args(&[
                "--scenario",
                "unary",
                "--request-size",
                "10",
                "-c",
                "4",
                "-s",
                "64",
            ]),
            headline: Headline::CallsPerS,
            idle_connections: None,
            h2load: Some(H2load {
                connections: 4,
                streams: 64,
                request_size: 10,
            }),
        },
        Scenario {
            name: "unary 64 KiB, 4x8",
            load_args: args(&[
                "--scenario",
                "unary",
                "--request-size",
                "65536",
                "-c",
                "4",
                "-s",
                "8",
            ]),
            headline: Headline::CallsPerS,
            idle_connections: None,
            h2load: None,
        },
        Scenario {
            name: "server stream 100x1 KiB, 4x16",
            load_args: args(&[
                "--scenario",
                "server-stream",
                "--response-size",
                "1024",
                "--stream-messages",
                "100",
                "-c",
                "4",
                "-s",
                "16",
            ]),
            headline: Headline::MbPerS,
            idle_connections: None,
            h2load: None,
        },
        Scenario {
            name: "bidi 100x1 KiB, 4x16",
            load_args: args(&[
                "--scenario",
                "bidi",
                "--response-size",
                "1024",
                "--stream-messages",
                "100",
                "-c",
                "4",
                "-s",
                "16",
            ]),
            headline: Headline::MbPerS,
            idle_connections: None,
            h2load: None,
        },
        Scenario {
            name: "bidi 8x1 MiB, 1x4",
            load_args: args(&[
                "--scenario",
                "bidi",
                "--response-size",
                "1048576",
                "--stream-messages",
                "8",
                "-c",
                "1",
                "-s",
                "4",
            ]),
            headline: Headline::MbPerS,
            idle_connections: None,
            h2load: None,
        },
        flood("flood WINDOW_UPDATE, 1 conn", "window-update"),
        flood("flood PRIORITY, 1 conn", "priority"),
        flood("flood SETTINGS, 1 conn", "settings"),
        Scenario {
            name: if idle_connections == 1000 {
                "idle, 1000 connections"
            } else {
                "idle connections"
            },
            load_args: args(&["--scenario", "idle", "-c", &idle]),
            headline: Headline::KibPerConnection,
            idle_connections: Some(idle_connections),
            h2load: None,
        },
    ]
}
