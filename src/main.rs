//! Entry point: answer `-version`, else serve the AWS engine as a plugin.

use std::process::ExitCode;

use vault_plugin_secrets_aws::{aws, framework};

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
    framework::run(aws::framework(), "vault-plugin-secrets-aws")
}
