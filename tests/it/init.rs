//! `hookshape init DIR`: the repository it writes passes its own CI commands (`validate`,
//! `test`, and `diff` over a real git history), its workflow files parse and run those
//! commands, and it never writes into a directory that holds something.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::hookshape;

/// The `HOOKSHAPE_*` file settings a developer's shell may have: each would point the
/// commands away from the repository under test.
const FILE_VARS: [&str; 4] =
    ["HOOKSHAPE_SUBSCRIPTIONS", "HOOKSHAPE_TEMPLATES", "HOOKSHAPE_SOURCES", "HOOKSHAPE_TOPICS"];

/// `hookshape ARGS` run inside `dir`, as CI runs it there: no file flags.
fn hookshape_in(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = hookshape();
    cmd.args(args).current_dir(dir);
    for var in FILE_VARS {
        cmd.env_remove(var);
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn show(out: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// A new repository written by `init` into a directory that does not exist yet.
fn init_repository(parent: &Path) -> PathBuf {
    let dir = parent.join("hooks");
    let out = hookshape().arg("init").arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    dir
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=hookshape test",
            "-c",
            "user.email=test@hookshape.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", show(&out));
    text(&out.stdout)
}

/// Commits everything in `dir` as a first commit on `main`.
fn git_init(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "hookshape init"]);
}

/// A payload field renamed in the body template: the change a reviewer must see.
fn rename_total_to_amount(dir: &Path) {
    let path = dir.join("templates/crm/order.json.j2");
    let template = std::fs::read_to_string(&path).unwrap();
    assert!(template.contains("\"total\":"), "{template}");
    std::fs::write(&path, template.replace("\"total\":", "\"amount\":")).unwrap();
}

/// Whether this binary has `diff` yet (it lands with another branch): the tests that run
/// it say so on stderr and stop early without it.
fn diff_exists() -> bool {
    let present = hookshape().args(["diff", "--help"]).output().unwrap().status.success();
    if !present {
        eprintln!("note: this hookshape has no `diff` command: its part of the test did not run");
    }
    present
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()))
}

/// A GitHub Actions step's `run` script, by the step's name.
fn github_step(workflow: &Value, name: &str) -> String {
    let steps = workflow["jobs"]["check"]["steps"].as_array().unwrap();
    let step = steps.iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no step {name:?}"));
    step["run"].as_str().unwrap().to_string()
}

/// A GitLab CI job's script, its items one after another as the runner runs them.
fn gitlab_script(ci: &Value, job: &str) -> String {
    let items = ci[job]["script"].as_array().unwrap_or_else(|| panic!("no job {job:?}"));
    items.iter().map(|i| i.as_str().unwrap()).collect::<Vec<_>>().join("\n")
}

/// `script` run by bash in `dir` as CI runs a step (`-e -o pipefail`), with the directory
/// of the hookshape under test first on PATH.
fn run_script(dir: &Path, script: &str, envs: &[(&str, &str)]) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_hookshape")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script]).current_dir(dir).env("PATH", path);
    for var in FILE_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(envs.iter().copied()).output().unwrap()
}

#[test]
fn init_writes_a_repository_whose_validate_and_test_pass_as_ci_runs_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init_repository(tmp.path());
    for file in [
        "README.md",
        ".gitignore",
        ".github/workflows/hookshape.yml",
        ".gitlab-ci.yml",
        "subscriptions/crm-orders.yaml",
        "subscriptions/crm-orders.test.yaml",
        "templates/crm/order.json.j2",
        "sources/shop.yaml",
        "sources/shop.test.yaml",
        "topics/order.paid.yaml",
        "events/order-paid.json",
        "events/traffic.jsonl",
        "schema/subscription.schema.json",
        "schema/source.schema.json",
    ] {
        assert!(dir.join(file).is_file(), "init did not write {file}");
    }
    let validate = hookshape_in(&dir, &["validate", "--allow-missing-env"]);
    assert!(validate.status.success(), "{}", show(&validate));
    let summary = text(&validate.stdout);
    assert!(
        summary.starts_with("1 subscriptions, 1 sources") && summary.contains(" OK (version"),
        "{}",
        show(&validate)
    );
    // Once validate reads the event catalog, it must have read the topic file too.
    assert!(!summary.contains("topics") || summary.contains("1 topics"), "{}", show(&validate));
    let test = hookshape_in(&dir, &["test", "--allow-missing-env"]);
    assert!(test.status.success(), "{}", show(&test));
    assert!(text(&test.stdout).contains("4 passed, 0 failed"), "{}", show(&test));
    let render = hookshape_in(&dir, &["render", "--subscription", "crm-orders", "--event", "events/order-paid.json"]);
    assert!(text(&render.stdout).contains("POST http://127.0.0.1:9000/customers/C-1001/orders"), "{}", show(&render));
}

#[test]
fn the_editor_schema_lines_name_schemas_that_are_this_binarys_own() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init_repository(tmp.path());
    for (file, schema, args) in [
        ("subscriptions/crm-orders.yaml", "schema/subscription.schema.json", &["schema"][..]),
        ("sources/shop.yaml", "schema/source.schema.json", &["schema", "--sources"][..]),
        ("topics/order.paid.yaml", "schema/topic.schema.json", &["schema", "--topics"][..]),
    ] {
        let first = std::fs::read_to_string(dir.join(file)).unwrap().lines().next().unwrap().to_string();
        let named = first.strip_prefix("# yaml-language-server: $schema=").unwrap_or_else(|| panic!("{file}: {first}"));
        let resolved = dir.join(file).parent().unwrap().join(named);
        assert_eq!(std::fs::canonicalize(resolved).unwrap(), std::fs::canonicalize(dir.join(schema)).unwrap());
        let generated = hookshape().args(args).output().unwrap();
        assert_eq!(std::fs::read_to_string(dir.join(schema)).unwrap(), text(&generated.stdout), "{schema}");
    }
}

#[test]
fn the_repository_stays_clean_under_git_and_diff_names_a_template_change() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init_repository(tmp.path());
    git_init(&dir);
    // The store `serve` would keep here, and what the checks leave behind, are ignored.
    let ignored = ["data/hookshape.db", "data/hookshape.db-wal", "hookshape-diff.md", ".env"];
    let listed = git(&dir, &[&["check-ignore"][..], &ignored].concat());
    assert_eq!(listed.lines().collect::<Vec<_>>(), ignored);
    assert!(hookshape_in(&dir, &["validate"]).status.success());
    assert!(hookshape_in(&dir, &["test"]).status.success());
    assert_eq!(git(&dir, &["status", "--porcelain"]), "", "validate and test left files behind");
    rename_total_to_amount(&dir);
    git(&dir, &["commit", "-q", "-am", "CRM: total is called amount now"]);
    assert!(hookshape_in(&dir, &["test"]).status.code() == Some(1), "the case that expects `total` must fail now");
    if !diff_exists() {
        return;
    }
    let diff = hookshape_in(&dir, &["diff", "--base", "HEAD~1", "--events", "events/traffic.jsonl"]);
    assert_eq!(diff.status.code(), Some(1), "{}", show(&diff));
    let out = text(&diff.stdout);
    assert!(out.contains("crm-orders") && out.contains("amount") && out.contains("total"), "{}", show(&diff));
}

#[test]
fn the_workflows_parse_and_run_validate_test_and_diff_on_a_pull_request() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init_repository(tmp.path());
    let version = env!("CARGO_PKG_VERSION");

    let github = yaml(&dir.join(".github/workflows/hookshape.yml"));
    assert!(github["on"]["pull_request"].is_null() && github["on"].get("pull_request").is_some(), "{github}");
    assert_eq!(github["permissions"]["pull-requests"], "write");
    assert_eq!(github["env"]["HOOKSHAPE_VERSION"], version);
    let steps = github["jobs"]["check"]["steps"].as_array().unwrap();
    assert_eq!(steps[0]["with"]["fetch-depth"], 0, "diff needs the target branch");
    let install = github_step(&github, "Install hookshape ${{ env.HOOKSHAPE_VERSION }}");
    assert!(install.contains("dpkg-deb -x") && install.contains("sha256sum -c"), "{install}");
    assert_eq!(github_step(&github, "Validate"), "hookshape validate --allow-missing-env");
    assert_eq!(github_step(&github, "Test"), "hookshape test --examples --allow-missing-env");
    let diff = github_step(&github, "Diff against ${{ github.base_ref }}");
    assert!(diff.contains("hookshape diff --base \"origin/${GITHUB_BASE_REF}\"") && diff.contains("--format markdown"));
    let comment = github_step(&github, "Comment the diff on the pull request");
    assert!(comment.contains("gh pr comment \"$PR\" --edit-last") && comment.contains("|| gh pr comment"), "{comment}");

    let gitlab = yaml(&dir.join(".gitlab-ci.yml"));
    assert_eq!(gitlab["variables"]["HOOKSHAPE_VERSION"], version);
    assert_eq!(gitlab["variables"]["GIT_DEPTH"], "0");
    let installs = gitlab["default"]["before_script"].as_array().unwrap();
    assert!(installs.iter().any(|s| s.as_str().unwrap().contains("dpkg-deb -x")), "{gitlab}");
    assert_eq!(
        gitlab_script(&gitlab, "hookshape-check"),
        "hookshape validate --allow-missing-env\nhookshape test --examples --allow-missing-env"
    );
    assert_eq!(gitlab["hookshape-diff"]["rules"][0]["if"], "$CI_PIPELINE_SOURCE == \"merge_request_event\"");
    let script = gitlab_script(&gitlab, "hookshape-diff");
    assert!(script.contains("hookshape diff --base \"$base\"") && script.contains("--format markdown"), "{script}");
    assert!(script.contains("/merge_requests/$CI_MERGE_REQUEST_IID/notes"), "{script}");
}

/// A remote for `dir` (a bare repository beside it, as CI's `origin`) holding `main` as it
/// is now, and `dir` on a branch `change` with the template change committed.
fn pull_request_setup(dir: &Path) {
    git_init(dir);
    let origin = dir.parent().unwrap().join("origin.git");
    git(dir, &["clone", "-q", "--bare", ".", origin.to_str().unwrap()]);
    git(dir, &["remote", "add", "origin", origin.to_str().unwrap()]);
    git(dir, &["fetch", "-q", "origin"]);
    git(dir, &["checkout", "-q", "-b", "change"]);
    rename_total_to_amount(dir);
    git(dir, &["commit", "-q", "-am", "CRM: total is called amount now"]);
}

#[test]
fn the_github_diff_step_passes_on_changes_and_fails_on_an_error() {
    if !diff_exists() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = init_repository(tmp.path());
    pull_request_setup(&dir);
    let step = github_step(&yaml(&dir.join(".github/workflows/hookshape.yml")), "Diff against ${{ github.base_ref }}");
    let runner_temp = tmp.path().join("runner");
    std::fs::create_dir(&runner_temp).unwrap();
    let summary = tmp.path().join("summary.md");
    let envs = [
        ("GITHUB_BASE_REF", "main"),
        ("RUNNER_TEMP", runner_temp.to_str().unwrap()),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
    ];
    let out = run_script(&dir, &step, &envs);
    assert!(out.status.success(), "diff's exit 1 (changes) must not fail the step: {}", show(&out));
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(markdown.contains("crm-orders") && markdown.contains("amount"), "{markdown}");

    // An events file with a bad line is diff's exit 2: the step fails with it.
    let events = dir.join("events/traffic.jsonl");
    let mut lines = std::fs::read_to_string(&events).unwrap();
    lines.push_str("{not json\n");
    std::fs::write(&events, lines).unwrap();
    let out = run_script(&dir, &step, &envs);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn the_gitlab_diff_job_compares_with_the_fork_point_when_the_target_moved_on() {
    if !diff_exists() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = init_repository(tmp.path());
    pull_request_setup(&dir);
    // Meanwhile main gained a header: comparing with main's tip would show it as removed.
    let other = tmp.path().join("other");
    git(tmp.path(), &["clone", "-q", tmp.path().join("origin.git").to_str().unwrap(), other.to_str().unwrap()]);
    let sub = other.join("subscriptions/crm-orders.yaml");
    let yaml_text = std::fs::read_to_string(&sub).unwrap();
    let with_header = yaml_text.replace("  headers:\n", "  headers:\n    X-Shop-Region: south\n");
    assert_ne!(with_header, yaml_text);
    std::fs::write(&sub, with_header).unwrap();
    git(&other, &["commit", "-q", "-am", "CRM: the region header"]);
    git(&other, &["push", "-q", "origin", "main"]);

    let script = gitlab_script(&yaml(&dir.join(".gitlab-ci.yml")), "hookshape-diff");
    let out = run_script(&dir, &script, &[("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main")]);
    assert!(out.status.success(), "{}", show(&out));
    let markdown = std::fs::read_to_string(dir.join("hookshape-diff.md")).unwrap();
    assert!(markdown.contains("amount"), "{markdown}");
    assert!(!markdown.contains("X-Shop-Region"), "main's own change shows as undone: {markdown}");
    assert!(text(&out.stdout).contains("HOOKSHAPE_GITLAB_TOKEN is not set"), "{}", show(&out));
}

#[test]
fn init_refuses_a_directory_that_holds_something_and_force_keeps_what_is_there() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mine");
    std::fs::create_dir_all(dir.join("subscriptions")).unwrap();
    std::fs::write(dir.join("README.md"), "our own readme\n").unwrap();

    let out = hookshape().arg("init").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(err.contains("mine: is not empty (it holds README.md, subscriptions)") && err.contains("--force"), "{err}");
    assert!(!dir.join(".gitignore").exists(), "nothing may be written when refused");

    let out = hookshape().arg("init").arg("--force").arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(std::fs::read_to_string(dir.join("README.md")).unwrap(), "our own readme\n");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("README.md (already there; not overwritten)"), "{stdout}");
    assert!(dir.join("subscriptions/crm-orders.yaml").is_file() && dir.join(".gitignore").is_file(), "{stdout}");

    // A file where the directory should be.
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = hookshape().arg("init").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("a-file: exists and is not a directory"), "{}", show(&out));
}

#[test]
fn init_into_a_fresh_clone_holding_only_git_is_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    git(tmp.path(), &["init", "-q", "-b", "main"]);
    let out = hookshape().arg("init").arg(tmp.path()).output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(tmp.path().join(".gitlab-ci.yml").is_file());
}

/// Every shell script in both workflows parses as bash (the runner's shell for both).
#[test]
fn every_workflow_script_is_valid_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init_repository(tmp.path());
    let github = yaml(&dir.join(".github/workflows/hookshape.yml"));
    let gitlab = yaml(&dir.join(".gitlab-ci.yml"));
    let mut scripts: Vec<String> = github["jobs"]["check"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str().map(str::to_string))
        .collect();
    for list in
        [&gitlab["default"]["before_script"], &gitlab["hookshape-check"]["script"], &gitlab["hookshape-diff"]["script"]]
    {
        scripts.extend(list.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()));
    }
    assert!(scripts.len() >= 10, "{scripts:?}");
    for script in scripts {
        let out = Command::new("bash").args(["-n", "-c", &script]).output().unwrap();
        assert!(out.status.success(), "{script}\n{}", show(&out));
    }
}

/// A Debian package holding this very binary, as `cargo deb` lays it out (`usr/bin/`).
fn package_of_this_binary(dir: &Path) -> PathBuf {
    let root = dir.join("pkg");
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    let control = format!(
        "Package: hookshape\nVersion: {}\nArchitecture: all\nMaintainer: test\nDescription: test\n",
        env!("CARGO_PKG_VERSION")
    );
    std::fs::write(root.join("DEBIAN/control"), control).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_hookshape"), root.join("usr/bin/hookshape")).unwrap();
    let deb = dir.join("hookshape.deb");
    // Uncompressed: the debug binary is large and the test is about the steps, not gzip.
    let out = Command::new("dpkg-deb")
        .args(["-Znone", "--root-owner-group", "--build"])
        .arg(&root)
        .arg(&deb)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    std::fs::remove_dir_all(&root).unwrap();
    deb
}

#[test]
fn the_github_install_step_unpacks_the_package_checks_it_and_names_a_missing_url() {
    if Command::new("dpkg-deb").arg("--version").output().is_err() {
        eprintln!("note: no dpkg-deb here: the install step did not run");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = init_repository(tmp.path());
    let step = github_step(
        &yaml(&dir.join(".github/workflows/hookshape.yml")),
        "Install hookshape ${{ env.HOOKSHAPE_VERSION }}",
    );
    let runner_temp = tmp.path().join("runner");
    std::fs::create_dir(&runner_temp).unwrap();
    let github_path = tmp.path().join("github_path");
    let base = [
        ("HOOKSHAPE_VERSION", env!("CARGO_PKG_VERSION")),
        ("RUNNER_TEMP", runner_temp.to_str().unwrap()),
        ("GITHUB_PATH", github_path.to_str().unwrap()),
    ];

    let out = run_script(&dir, &step, &base);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("::error::set the repository variable HOOKSHAPE_DEB_URL"), "{}", show(&out));

    let deb = package_of_this_binary(tmp.path());
    let url = format!("file://{}", deb.display());
    let sum = Command::new("sha256sum").arg(&deb).output().unwrap();
    let sum = text(&sum.stdout).split_whitespace().next().unwrap().to_string();
    let wrong = "0".repeat(64);
    let out = run_script(&dir, &step, &[&base[..], &[("DEB_URL", &url), ("DEB_SHA256", &wrong)]].concat());
    assert_ne!(out.status.code(), Some(0), "a package with another checksum must not be used: {}", show(&out));
    assert!(
        text(&out.stdout).contains("hookshape.deb: FAILED") && !runner_temp.join("hookshape").exists(),
        "{}",
        show(&out)
    );

    let out = run_script(&dir, &step, &[&base[..], &[("DEB_URL", &url), ("DEB_SHA256", &sum)]].concat());
    assert!(out.status.success(), "{}", show(&out));
    let bin = runner_temp.join("hookshape/usr/bin");
    assert_eq!(std::fs::read_to_string(&github_path).unwrap(), format!("{}\n", bin.display()));
    assert!(bin.join("hookshape").is_file());

    // The step checks the version it installed: another version's package is refused.
    let out = run_script(&dir, &step, &[("HOOKSHAPE_VERSION", "9.9.9"), base[1], base[2], ("DEB_URL", &url)]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let expected =
        format!("::error::the package at HOOKSHAPE_DEB_URL is hookshape {} (commit", env!("CARGO_PKG_VERSION"));
    assert!(text(&out.stdout).contains(&expected) && text(&out.stdout).contains("not 9.9.9"), "{}", show(&out));
}
