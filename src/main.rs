//! `djtop`: the collector, TUI, recorder and report. See docs/ for the user guide.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use djtop::collector::{Address, DEFAULT_ADDRESS};

#[derive(Parser)]
#[command(
    name = "djtop",
    version,
    about = "A terminal debug toolbar for Django's SQL: live requests, queries, N+1 findings.",
    after_help = "Add \"djtop\" to INSTALLED_APPS and \"djtop.middleware.DjtopMiddleware\" first in \
                  MIDDLEWARE, run your app with DEBUG=True, then run djtop in another terminal."
)]
struct Cli {
    /// Address to listen on: HOST:PORT or unix:/path/to.sock
    #[arg(long, global = true, env = "DJTOP_ADDRESS", default_value = DEFAULT_ADDRESS)]
    listen: Address,
    /// Show a recording instead of listening
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// Colour theme: dark (default), light, high-contrast, or a theme file's path. Without it,
    /// `theme = "…"` in $XDG_CONFIG_HOME/djtop/config.toml (~/.config/…). NO_COLOR wins.
    #[arg(long, value_name = "NAME|PATH")]
    theme: Option<String>,
    /// A finding needs at least this many queries of one shape from one place
    #[arg(long, global = true, default_value_t = 3, value_name = "N")]
    min_repeats: usize,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Headless collector: append every event to FILE as NDJSON until SIGINT/SIGTERM
    Record {
        /// The recording to append to
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print the analysis of a recording
    Report {
        /// A recording made by `djtop record` or DJTOP_RECORD
        file: PathBuf,
        /// Print the stable JSON format (version 1) instead of text
        #[arg(long)]
        json: bool,
    },
    /// CI gate: exit 0 when clean, 1 on a finding or a budget violation, 2 on bad input
    Check {
        /// A recording made by `djtop record` or DJTOP_RECORD
        file: PathBuf,
        /// Query budgets per route (TOML: `default = N` and `[routes]` "route" = N)
        #[arg(long, value_name = "FILE")]
        budget: Option<PathBuf>,
        /// Fail on findings inside a library's own code too (listed, not failing, by default)
        #[arg(long)]
        include_libraries: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("djtop: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = djtop::analysis::Config {
        min_repeats: cli.min_repeats.max(2),
        ..Default::default()
    };
    match cli.command {
        Some(Command::Check {
            file,
            budget,
            include_libraries,
        }) => {
            let budget = match budget {
                Some(path) => djtop::check::Budget::load(&path)?,
                None => Default::default(),
            };
            let store = djtop::record::load_events(&file)?;
            let report = djtop::report::build(&store, config);
            let violations = djtop::check::violations(&report, &budget, include_libraries);
            for v in &violations {
                println!("{}", djtop::interpolate::escape_unsafe(v));
            }
            if violations.is_empty() {
                eprintln!(
                    "djtop check: {} requests, no findings",
                    report.requests.len()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("djtop check: {} violations", violations.len());
                Ok(ExitCode::from(1))
            }
        }
        Some(Command::Report { file, json }) => {
            let store = djtop::record::load_events(&file)?;
            let report = djtop::report::build(&store, config);
            if json {
                println!("{}", djtop::report::to_json(&report));
            } else {
                print!("{}", djtop::report::to_text(&report));
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Record { out }) => {
            runtime()?.block_on(djtop::record::record(&cli.listen, &out))?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            // Before the UI (and its highlighter) starts: the theme is global for the process.
            let config_file = djtop::theme::config_path();
            djtop::theme::set(djtop::theme::choose(
                cli.theme.as_deref(),
                config_file.as_deref(),
            )?);
            let overrides = djtop::theme::key_overrides(config_file.as_deref())?;
            if !overrides.is_empty() {
                let origin = config_file
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                djtop::ui::set_key_overrides(&overrides, &origin).map_err(anyhow::Error::msg)?;
            }
            let replay = match cli.replay {
                Some(path) => {
                    let store = djtop::record::load(&path)?;
                    Some((store, path.display().to_string()))
                }
                None => None,
            };
            runtime()?.block_on(djtop::ui::run(Some(cli.listen), replay, config))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
