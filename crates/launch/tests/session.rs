//! Launch files: parse errors name what is wrong; sessions start nodes in order, stop them
//! with SIGINT in reverse order, kill those that ignore it, and say why they ended.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::atomic::AtomicBool;

use striatum_launch::{
    LaunchError, LaunchFile, SessionReport, StopReason, run_session, set_aside_previous_run,
    utc_stamp,
};

fn parse(text: &str) -> Result<LaunchFile, LaunchError> {
    LaunchFile::parse(text, Path::new("test.toml"))
}

/// Runs a session whose nodes all name their own program.
fn run(file: &LaunchFile, stop: &AtomicBool) -> Result<SessionReport, LaunchError> {
    run_session(file, Path::new("none"), Path::new("/bin/false"), stop, None)
}

fn shell_node(name: &str, script: &str, extra: &str) -> String {
    format!(
        "[[nodes]]\nname = \"{name}\"\nprogram = \"/bin/sh\"\nargs = [\"-c\", '''{script}''']\n{extra}\n"
    )
}

#[test]
fn bad_files_are_named() {
    let err = parse("name = \"s\"\nrun_dir = \"r\"\nnodez = []\n").unwrap_err();
    assert!(err.to_string().contains("nodez"), "{err}");
    let err = parse("name = \"s\"\nrun_dir = \"r\"\nnodes = []\n").unwrap_err();
    assert!(err.to_string().contains("no [[nodes]]"), "{err}");
    let twice = format!(
        "name = \"s\"\nrun_dir = \"r\"\n{}{}",
        shell_node("a", "true", ""),
        shell_node("a", "true", "")
    );
    let err = parse(&twice).unwrap_err();
    assert!(err.to_string().contains("`a` is listed twice"), "{err}");
    let err = parse("name = \"a b\"\nrun_dir = \"r\"\n[[nodes]]\nname = \"x\"\nargs = [\"y\"]\n")
        .unwrap_err();
    assert!(err.to_string().contains("name `a b`"), "{err}");
    let err = parse(
        "name = \"s\"\nrun_dir = \"r\"\nmax_duration_s = -1.0\n[[nodes]]\nname = \"x\"\nargs = [\"y\"]\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("max_duration_s"), "{err}");
    let err = parse("name = \"s\"\nrun_dir = \"r\"\n[[nodes]]\nname = \"x\"\nargs = \"y\"\n")
        .unwrap_err();
    assert!(err.to_string().contains("args"), "{err}");
}

#[test]
fn placeholders_expand() {
    let f = parse(
        "name = \"demo\"\nrun_dir = \"runs/${name}\"\n[[nodes]]\nname = \"x\"\nargs = [\"--out\", \"${run_dir}/a\", \"${name}\"]\n",
    )
    .unwrap();
    assert_eq!(f.run_dir(), Path::new("runs/demo"));
    assert_eq!(f.expand(&f.nodes[0]), ["--out", "runs/demo/a", "demo"]);
}

#[test]
fn a_finishing_node_ends_the_session_and_the_others_stop_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // The worker ends only once the server has set its trap (a loaded machine may start the
    // shell late), so the server's Ctrl-C handler always runs.
    let ready = dir.path().join("server_ready");
    let text = format!(
        "name = \"s\"\nrun_dir = \"{}\"\ngrace_s = 5.0\n{}{}",
        run.display(),
        shell_node(
            "server",
            &format!(
                "trap 'echo saved; exit 0' INT; echo up; touch {r}; while true; do sleep 0.02; done",
                r = ready.display()
            ),
            ""
        ),
        shell_node(
            "worker",
            &format!(
                "while [ ! -f {r} ]; do sleep 0.02; done; echo finished",
                r = ready.display()
            ),
            "ends_session = true"
        ),
    );
    let source = dir.path().join("launch.toml");
    std::fs::write(&source, &text).unwrap();
    let file = LaunchFile::load(&source).unwrap();
    let stop = AtomicBool::new(false);
    let report = run_session(&file, &source, Path::new("/bin/false"), &stop, None).unwrap();
    assert_eq!(report.reason, StopReason::NodeFinished("worker".into()));
    assert!(report.clean(), "{report:?}");
    assert_eq!(report.exits.len(), 2);
    assert!(report.exits.iter().all(|e| !e.killed && e.code == Some(0)));
    let server_log = std::fs::read_to_string(run.join("logs/server.log")).unwrap();
    assert!(
        server_log.contains("up") && server_log.contains("saved"),
        "{server_log}"
    );
    let worker_log = std::fs::read_to_string(run.join("logs/worker.log")).unwrap();
    assert!(worker_log.contains("finished"));
    assert_eq!(
        std::fs::read_to_string(run.join("launch.toml")).unwrap(),
        text
    );
}

#[test]
fn nodes_can_trap_sigint_even_when_the_launcher_ignores_it() {
    // A background job of a non-interactive shell starts with SIGINT ignored, and exec keeps
    // it ignored. Run the clean-stop test again in such a process: its server node must still
    // get a SIGINT it can trap.
    let out = std::process::Command::new("/bin/sh")
        .args([
            "-c",
            "trap '' INT; exec \"$0\" --exact \"$1\" --test-threads 1",
        ])
        .arg(std::env::current_exe().unwrap())
        .arg("a_finishing_node_ends_the_session_and_the_others_stop_cleanly")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
fn a_node_that_ignores_sigint_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "name = \"s\"\nrun_dir = \"{}\"\nmax_duration_s = 2.0\ngrace_s = 0.3\n{}",
        dir.path().join("run").display(),
        shell_node("stubborn", "trap '' INT; sleep 30", ""),
    );
    let file = parse(&text).unwrap();
    let stop = AtomicBool::new(false);
    let started = std::time::Instant::now();
    let report = run(&file, &stop).unwrap();
    assert_eq!(report.reason, StopReason::TimeLimit);
    assert!(report.exits[0].killed);
    assert!(!report.clean());
    assert!(started.elapsed().as_secs_f64() < 10.0);
}

#[test]
fn a_failing_required_node_stops_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("long_ready");
    let text = format!(
        "name = \"s\"\nrun_dir = \"{}\"\n{}{}{}",
        dir.path().join("run").display(),
        shell_node(
            "long",
            &format!(
                "trap 'exit 0' INT; touch {r}; while true; do sleep 0.02; done",
                r = ready.display()
            ),
            ""
        ),
        shell_node("optional", "exit 4", "required = false"),
        shell_node(
            "broken",
            &format!(
                "while [ ! -f {r} ]; do sleep 0.02; done; exit 3",
                r = ready.display()
            ),
            ""
        ),
    );
    let file = parse(&text).unwrap();
    let stop = AtomicBool::new(false);
    let report = run(&file, &stop).unwrap();
    assert_eq!(report.reason, StopReason::NodeFailed("broken".into()));
    assert!(!report.clean());
    let codes: Vec<Option<i32>> = report.exits.iter().map(|e| e.code).collect();
    assert_eq!(codes, [Some(0), Some(4), Some(3)]);
}

#[test]
fn a_missing_program_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "name = \"s\"\nrun_dir = \"{}\"\n[[nodes]]\nname = \"x\"\nargs = [\"y\"]\nprogram = \"/no/such/program\"\n",
        dir.path().join("run").display(),
    );
    let file = parse(&text).unwrap();
    let stop = AtomicBool::new(false);
    let err = run(&file, &stop).unwrap_err();
    assert!(
        err.to_string().contains("node `x`") && err.to_string().contains("/no/such/program"),
        "{err}"
    );
}

#[test]
fn an_earlier_session_is_set_aside_never_deleted_or_resumed_by_accident() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("runs").join("demo");
    assert_eq!(set_aside_previous_run(&run).unwrap(), None, "nothing there");
    std::fs::create_dir_all(&run).unwrap();
    assert_eq!(set_aside_previous_run(&run).unwrap(), None, "empty: kept");
    assert!(run.is_dir());
    std::fs::write(run.join("a.csv"), "x").unwrap();
    let first = set_aside_previous_run(&run).unwrap().unwrap();
    assert!(!run.exists());
    assert_eq!(std::fs::read_to_string(first.join("a.csv")).unwrap(), "x");
    let name = first.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("demo.") && name.len() == "demo.".len() + 15,
        "{name}"
    );
    // A second one within the same second gets a name of its own.
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("b.csv"), "y").unwrap();
    let second = set_aside_previous_run(&run).unwrap().unwrap();
    assert_ne!(first, second);
    assert!(first.join("a.csv").exists() && second.join("b.csv").exists());
}

#[test]
fn utc_stamps_follow_the_calendar() {
    assert_eq!(utc_stamp(0), "19700101-000000");
    assert_eq!(utc_stamp(951_782_400), "20000229-000000");
    assert_eq!(utc_stamp(1_709_164_800), "20240229-000000");
    assert_eq!(utc_stamp(1_763_870_672), "20251123-040432");
    assert_eq!(utc_stamp(4_102_444_800), "21000101-000000");
}
