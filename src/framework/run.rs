//! Running an engine as an external plugin process, so every engine built on this framework
//! (the AWS engine in `main.rs`, the floor engine in `examples/floor.rs`) starts the same way:
//! check how the server launched us, log as hclog JSON, serve until the server stops us.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::plugin::{handshake, log, serve};

use super::router::Framework;
use super::service::BackendService;

fn say(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// Serves `fw` on a current-thread runtime until the server stops the plugin. `name` prefixes
/// the one line printed when the plugin stops with an error.
pub fn run<B: Send + Sync + 'static>(fw: Framework<B>, name: &str) -> ExitCode {
    let launch = match handshake::read_env(&|k| std::env::var(k).ok()) {
        Ok(l) => l,
        Err(e) => {
            say(&e.to_string());
            return ExitCode::FAILURE;
        }
    };
    log::init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            say(&format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let version = fw.version.clone();
    let fw = Arc::new(fw);
    let result = runtime.block_on(serve::serve(launch, version, move |t| {
        BackendService::new(fw, t)
    }));
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "plugin stopped with an error");
            say(&format!("{name}: {e}"));
            ExitCode::FAILURE
        }
    }
}
