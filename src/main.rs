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
    match cli.command {
        Some(Command::Report { file, json }) => {
            let store = djtop::record::load(&file)?;
            let report = djtop::report::build(&store);
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
            let replay = match cli.replay {
                Some(path) => {
                    let store = djtop::record::load(&path)?;
                    Some((store, path.display().to_string()))
                }
                None => None,
            };
            runtime()?.block_on(djtop::ui::run(Some(cli.listen), replay))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
