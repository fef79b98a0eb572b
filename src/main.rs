//! Entry point: check how we were launched, then serve the AWS engine.

use std::process::ExitCode;
use std::sync::Arc;

use vault_plugin_secrets_aws::aws;
use vault_plugin_secrets_aws::framework::BackendService;
use vault_plugin_secrets_aws::plugin::{handshake, log, serve};

fn say(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn main() -> ExitCode {
    if std::env::args()
        .skip(1)
        .any(|a| a == "-version" || a == "--version")
    {
        use std::io::Write;
        let _ = writeln!(
            std::io::stdout(),
            "vault-plugin-secrets-aws {}",
            aws::version()
        );
        return ExitCode::SUCCESS;
    }
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
    let fw = Arc::new(aws::framework());
    let result = runtime.block_on(serve::serve(launch, aws::version(), move |t| {
        BackendService::new(fw, t)
    }));
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "plugin stopped with an error");
            say(&format!("vault-plugin-secrets-aws: {e}"));
            ExitCode::FAILURE
        }
    }
}
