//! Builds the dashboard's front end (`web/`) into `OUT_DIR/web`, where
//! `src/dashboard.rs` embeds it with `include_bytes!`: the binary serves
//! the dashboard with nothing fetched at run time.
//!
//! The README's two commands must work on a fresh machine, so the Rust
//! build is what installs and bundles the front end: `npm ci` (exact
//! versions from `web/package-lock.json`) when `node_modules` is missing or
//! older than the lockfile, then `node build.mjs` (esbuild). Cargo re-runs
//! this script only when a file under `web/` that the bundle reads changes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let web = manifest.join("web");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("web");
    for watched in ["web/src", "web/build.mjs", "web/package.json", "web/package-lock.json"] {
        println!("cargo:rerun-if-changed={watched}");
    }
    println!("cargo:rerun-if-env-changed=NPM");

    let npm = std::env::var("NPM").unwrap_or_else(|_| "npm".to_owned());
    if Command::new(&npm).arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        fail(&format!(
            "`{npm} --version` failed: building segscope-server bundles the dashboard with Node.js and npm. \
             Install Node.js 20 or newer with npm (e.g. `apt-get install -y nodejs npm`), or set NPM to the npm binary"
        ));
    }
    if needs_install(&web) {
        run(Command::new(&npm).args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&web), "npm ci");
    }
    std::fs::create_dir_all(&out).unwrap_or_else(|e| fail(&format!("creating {}: {e}", out.display())));
    run(Command::new("node").arg("build.mjs").arg(&out).current_dir(&web), "node build.mjs");
}

/// `node_modules` is missing or was installed from an older lockfile.
fn needs_install(web: &Path) -> bool {
    let installed = web.join("node_modules/.package-lock.json");
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    match (modified(&installed), modified(&web.join("package-lock.json"))) {
        (Some(installed), Some(lock)) => installed < lock,
        _ => true,
    }
}

fn run(command: &mut Command, what: &str) {
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => fail(&format!("`{what}` in crates/segscope-server/web failed ({status})")),
        Err(e) => fail(&format!("cannot run `{what}` in crates/segscope-server/web: {e}")),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    panic!("{message}");
}
